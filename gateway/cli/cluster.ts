#!/usr/bin/env node
/**
 * `syncmesh cluster` (what `npm start` runs): a complete local cluster on one machine (PROTOCOL.md section 1).
 *
 * Starts nats-server with JetStream (nats-server.conf, store under <data-dir>/nats) with one NATS user per
 * role (nkeys generated into <data-dir>/nats-auth on first start, reused afterwards; the server config with
 * their permissions is written to <data-dir>/nats-server.conf), then one process per role: the gateway
 * (distributor, HTTP API, demo page), the storage node, the push server node, and N socket-server nodes. Prints `ready http://HOST:PORT` on stdout once every part accepts work; progress goes to stderr and
 * each process logs to <data-dir>/logs/<name>.log. SIGINT/SIGTERM stops everything gracefully and keeps the data.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { startNatsServer, watchProcess, type NatsServer } from '../../runtime/mod.js';
import { authorizationBlock, loadOrCreateRoleCredentials, NATS_ROLES, type NatsRole } from '../nats/mod.js';
import { RoleProcess } from './child.js';
import { CLUSTER_OPTIONS } from './cluster-options.js';
import { StartError, UsageError } from './errors.js';
import type { OptionValues } from './options.js';
import { isEntryPoint, registerCommand, runProgram, type Command } from './program.js';
import { loadOrCreateSecrets } from './secrets.js';
import { clusterPartitions } from './cluster-partitions.js';
import { isLoopbackHost } from '../distributor/mod.js';
import { SOCKET_NODE_FLAGS } from './node-flags.js';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '..', '..', '..');
const progress = (msg: string): void => void process.stderr.write(`[syncmesh] ${msg}\n`);

async function runCluster(flags: OptionValues<typeof CLUSTER_OPTIONS>): Promise<void> {
  const dataDir = resolve(flags['data-dir']);
  const host = flags.host;
  const natsPort = flags['nats-port'];
  const socketNodes = flags['socket-nodes'];
  const httpPort = flags['http-port'];
  const dev = flags.dev;
  if (dev && !isLoopbackHost(host) && !flags['dev-unsafe-public']) {
    throw new UsageError(
      `dev mode (the default) is refused with --host ${host}: anyone who reaches it could get a token for any user. ` +
        'Use --no-dev with real tokens, keep --host on 127.0.0.1, or pass --dev-unsafe-public if you really mean it',
    );
  }
  const logDir = join(dataDir, 'logs');
  await mkdir(logDir, { recursive: true });
  const logger = pino({ base: { role: 'cluster' } }, pino.destination(2));
  const secrets = await loadOrCreateSecrets(dataDir);
  const partitions = await clusterPartitions(dataDir, flags['store-partitions']);

  // Security on by default: one nkey user per role, anonymous connections refused (docs/security.md).
  const creds = await loadOrCreateRoleCredentials(join(dataDir, 'nats-auth'), NATS_ROLES);
  const seedOf = (role: NatsRole): string => creds.find((c) => c.role === role)!.seedFile;
  const confFile = join(dataDir, 'nats-server.conf');
  const template = await readFile(join(root, 'nats-server.conf'), 'utf8');
  await writeFile(confFile, `${template}\n# Written by npm start from the role keys in nats-auth/ (gateway/nats/server-config.ts).\n${authorizationBlock(creds.map((c) => ({ roles: [c.role], nkey: c.publicKey })), 'sm', undefined, partitions)}`, { mode: 0o600 });

  progress(`starting nats-server (data in ${join(dataDir, 'nats')})`);
  let nats: NatsServer;
  try {
    nats = await startNatsServer({
      configFile: confFile,
      port: natsPort === 0 ? -1 : natsPort,
      storeDir: join(dataDir, 'nats'),
      logFile: join(logDir, 'nats-server.log'),
      detached: true,
    });
  } catch (err) {
    throw new StartError(`${(err as Error).message}${natsPort !== 0 ? ` (is port ${natsPort} already in use? try --nats-port 0)` : ''}`, { cause: err });
  }
  const natsWatchdog = watchProcess(nats.pid);
  progress(`nats-server ready at ${nats.url}`);

  const script = join(here, 'syncmesh.js');
  const env = {
    SYNCMESH_NATS: nats.url,
    SYNCMESH_TICKET_SECRET: secrets.ticketSecret,
    SYNCMESH_JWT_SECRET: secrets.jwtSecret,
    ...(dev && { SYNCMESH_DEV_JWT_SECRET: secrets.devJwtSecret }),
  };
  const mk = (name: string, role: NatsRole, args: string[]): RoleProcess =>
    new RoleProcess(
      {
        name,
        script,
        args: ['node', '--node-id', name, '--metrics-port', '0', '--roles', role, '--store-partitions', String(partitions), ...args],
        ...(role === 'socket' && { nodeFlags: SOCKET_NODE_FLAGS }),
        env: { ...env, SYNCMESH_NATS_NKEY: seedOf(role) },
        logFile: join(logDir, `${name}.log`),
      },
      logger,
    );
  const storage = mk('storage-1', 'storage', []);
  const push = mk('push-1', 'push', []);
  const sockets = Array.from({ length: socketNodes }, (_, i) =>
    mk(`socket-${i + 1}`, 'socket', ['--socket-host', host, '--socket-port', '0', '--drain-spread-ms', '1000', '--storm-rate', String(flags['storm-rate'])]),
  );
  const gateway = mk('gateway-1', 'gateway', ['--http-host', host, '--http-port', String(httpPort), '--http-threads', String(flags['http-threads']), ...(dev ? ['--dev'] : []), ...(flags['dev-unsafe-public'] ? ['--dev-unsafe-public'] : [])]);
  const all = [storage, push, ...sockets, gateway];

  let stopping: Promise<void> | undefined;
  const stopAll = (): Promise<void> =>
    (stopping ??= (async () => {
      for (const p of all) p.markStopping();
      progress('stopping: socket nodes drain their clients, then the rest leaves');
      await Promise.all(sockets.map((s) => s.stop()));
      await Promise.all([gateway.stop(), storage.stop(), push.stop()]);
      // Dispose: stops it and removes its temporary directory (the data and log live in dataDir).
      await nats[Symbol.asyncDispose]();
      natsWatchdog.release();
      progress(`stopped; data kept in ${dataDir}`);
    })());
  process.on('SIGINT', () => void stopAll().then(() => process.exit(0)));
  process.on('SIGTERM', () => void stopAll().then(() => process.exit(0)));
  if (process.env['SYNCMESH_EXIT_WITH_PARENT'] === '1') {
    // Started by a program that wants no orphans (a test kit): when it is gone, even by kill -9, stdin closes.
    process.stdin.on('end', () => void stopAll().then(() => process.exit(0)));
    process.stdin.resume();
  }

  try {
    progress(`starting ${all.length} role processes (logs in ${logDir})`);
    await Promise.all(
      all.map(async (p) => {
        const info = await p.start();
        progress(`${p.spec.name} ready${info.socket ? ` (${info.socket})` : ''}${info.http ? ` (${info.http})` : ''}`);
      }),
    );
    const url = gateway.info?.http;
    if (!url) throw new StartError('the gateway did not report its HTTP address');
    await waitHealthy(url, socketNodes);
    // What an operator or a test needs to find the parts (kill one, attach another node).
    const state = { http: url, nats: nats.url, natsSeeds: Object.fromEntries(creds.map((c) => [c.role, c.seedFile])), pid: process.pid, processes: all.map((p) => ({ name: p.spec.name, pid: p.pid, ...p.info })) };
    await writeFile(join(dataDir, 'cluster.json'), JSON.stringify(state, null, 2) + '\n');
    if (dev) {
      // The console, not only the gateway's log file: nobody should run dev mode without knowing.
      progress(`DEV MODE is on: POST ${url}/v1/dev/token hands out a token for any user id. Never use it in production (--no-dev turns it off).`);
    }
    process.stdout.write(`ready ${url}\n`);
  } catch (err) {
    await stopAll();
    throw err;
  }
}

/** Waits until the gateway sees every socket node, so the first connect request succeeds. */
async function waitHealthy(url: string, socketNodes: number): Promise<void> {
  const deadline = Date.now() + 30_000;
  let last = '';
  while (Date.now() < deadline) {
    try {
      const res = await fetch(`${url}/healthz`);
      const body = (await res.json()) as { socketServers?: number };
      if (res.ok && (body.socketServers ?? 0) >= socketNodes) return;
      last = JSON.stringify(body);
    } catch (err) {
      last = String(err);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new StartError(`the gateway did not see ${socketNodes} socket nodes within 30 s (last health answer: ${last})`);
}

export const clusterCommand: Command<typeof CLUSTER_OPTIONS> = {
  name: 'cluster',
  summary: 'run a complete local cluster on this machine (what `npm start` runs)',
  synopsis: 'syncmesh cluster [flags]        (or: npm start -- [flags])',
  description: [
    'Starts nats-server with JetStream (store under DATA-DIR/nats), then one process per role: the gateway',
    '(distributor, HTTP API, demo page), the storage + push node and SOCKET-NODES socket nodes, each with',
    'health and metrics on a free port (listed in DATA-DIR/cluster.json). Prints `ready http://HOST:PORT`',
    'once every part accepts work. SIGINT/SIGTERM stops everything gracefully and keeps the data.',
    'Each flag can also be given as the environment variable shown; the flag wins.',
  ].join('\n'),
  options: CLUSTER_OPTIONS,
  run: runCluster,
};

if (isEntryPoint(import.meta.url)) {
  registerCommand(clusterCommand);
  runProgram(['cluster', ...process.argv.slice(2)]);
}
