/**
 * Test kit: the multi-machine deployment of docs/deployment.md on one machine. Three clustered
 * nats-servers with JetStream, NATS security on (one nkey user per role, the permission matrix of
 * gateway/nats), TLS on client ports and mutually authenticated TLS routes with a route user
 * (certificates made by the test, test/kit/tls.ts), and every role as its own process of the
 * compiled `node` program (dist/gateway/cli/node.js), started without --replicas: the cluster
 * settings pick 3 on clustered NATS. Stopped by construction.
 *
 *   await using sc = await secureCluster({ socketNodes: 3 });
 *   sc.url                   // the gateway (distributor) http://127.0.0.1:PORT
 *   await sc.startSocketNode('socket-4')
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { authorizationBlock, clientTlsBlock, loadOrCreateRoleCredentials, natsConnectionOptions, NATS_ROLES, routeSecurityText, type NatsRole, type RoleCredentials } from '../../gateway/nats/mod.js';
import { startNatsCluster, type NatsCluster } from '../../runtime/mod.js';
import type { ClusterState, LocalCluster } from './cluster.js';
import { testPki, type TestPki } from './pki.js';

const NODE_JS = resolve('dist/gateway/cli/node.js');

/** One role process. */
export interface RoleNode {
  readonly name: string;
  readonly role: NatsRole;
  readonly pid: number;
  readonly info: { node: string; roles: string[]; http?: string; socket?: string; metrics?: string };
  readonly logFile: string;
  /** Resolves when the process has exited (code or signal). */
  readonly exited: Promise<void>;
  /** SIGTERM and wait for the exit (SIGKILL after 30 s). */
  stop(): Promise<void>;
}

export interface SecureCluster extends LocalCluster {
  readonly nats: NatsCluster;
  readonly pki: TestPki;
  readonly nodes: RoleNode[];
  /** Starts one more socket node and resolves once it is ready. */
  startSocketNode(name: string): Promise<RoleNode>;
  /** A NATS connection as `role`'s user (closed with the cluster). */
  natsAs(role: NatsRole): Promise<NatsConnection>;
}

/** `storePartitions`: every node's --store-partitions (and the NATS users' permissions for that many partitions). */
export async function secureCluster(options: { socketNodes?: number; storePartitions?: number } = {}): Promise<SecureCluster> {
  const partitions = options.storePartitions ?? 1;
  const dir = await mkdtemp(join(tmpdir(), 'syncmesh-secure-'));
  const cleanups: (() => Promise<void>)[] = [async () => rm(dir, { recursive: true, force: true })];
  const cleanup = async (): Promise<void> => {
    for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
  };
  try {
    const pki = await testPki();
    cleanups.push(() => pki[Symbol.asyncDispose]());
    const creds = await loadOrCreateRoleCredentials(join(dir, 'nats-auth'), NATS_ROLES);
    // Generous handshake time: the test machine may be far busier than a server host.
    const tls = { certFile: pki.certFile, keyFile: pki.keyFile, caFile: pki.caFile, timeoutSec: 10 };
    const nats = await startNatsCluster(3, {
      extraConfig: authorizationBlock(creds.map((c) => ({ roles: [c.role], nkey: c.publicKey })), 'sm', undefined, partitions) + clientTlsBlock(tls),
      routeUser: { user: 'syncmesh-route', password: randomBytes(18).toString('base64url') },
      clusterExtra: routeSecurityText(tls, undefined),
      startTimeoutMs: 45_000,
    });
    cleanups.push(() => nats[Symbol.asyncDispose]());
    const seedOf = (role: NatsRole): string => (creds.find((c) => c.role === role) as RoleCredentials).seedFile;
    const env = {
      SYNCMESH_NATS: nats.urls.join(','),
      SYNCMESH_NATS_CA: pki.caFile,
      SYNCMESH_TICKET_SECRET: randomBytes(24).toString('base64url'),
      SYNCMESH_JWT_SECRET: randomBytes(24).toString('base64url'),
      ...(options.storePartitions !== undefined && { SYNCMESH_STORE_PARTITIONS: String(options.storePartitions) }),
    };
    const nodes: RoleNode[] = [];
    cleanups.push(async () => {
      await Promise.all(nodes.filter((n) => n.role === 'socket').map((n) => n.stop()));
      await Promise.all(nodes.map((n) => n.stop()));
    });
    const start = async (name: string, role: NatsRole, args: string[]): Promise<RoleNode> => {
      const n = await startRole(name, role, args, { ...env, SYNCMESH_NATS_NKEY: seedOf(role) }, join(dir, `${name}.log`));
      nodes.push(n);
      return n;
    };
    const socketArgs = ['--socket-host', '127.0.0.1', '--socket-port', '0', '--drain-spread-ms', '1000'];
    // All at once, as an operator's service units would: whichever comes first writes the cluster settings.
    const [, , gateway] = await Promise.all([
      start('storage-1', 'storage', []),
      start('push-1', 'push', []),
      start('gateway-1', 'gateway', ['--http-host', '127.0.0.1', '--http-port', '0', '--dev']),
      ...Array.from({ length: options.socketNodes ?? 3 }, (_, i) => start(`socket-${i + 1}`, 'socket', socketArgs)),
    ]);
    const url = gateway.info.http!;
    await waitSocketServers(url, options.socketNodes ?? 3);
    const conns: NatsConnection[] = [];
    cleanups.push(async () => {
      for (const c of conns) await c.close().catch(() => undefined);
    });
    const state: ClusterState & { natsCa: string } = {
      http: url,
      nats: nats.urls.join(','),
      natsSeeds: Object.fromEntries(creds.map((c) => [c.role, c.seedFile])),
      natsCa: pki.caFile,
      pid: process.pid,
      get processes() {
        return nodes.map((n) => ({ name: n.name, pid: n.pid, ...n.info }));
      },
    };
    return {
      url,
      dataDir: dir,
      state,
      nats,
      pki,
      nodes,
      startSocketNode: (name) => start(name, 'socket', socketArgs),
      natsAs: async (role) => {
        const nc = await connect(await natsConnectionOptions({ servers: nats.urls, roles: [role], nkeyFile: seedOf(role), caFile: pki.caFile }));
        conns.push(nc);
        return nc;
      },
      stop: cleanup,
      [Symbol.asyncDispose]: cleanup,
    };
  } catch (err) {
    await cleanup();
    throw err;
  }
}

async function startRole(name: string, role: NatsRole, args: string[], env: Record<string, string>, logFile: string): Promise<RoleNode> {
  const child: ChildProcess = spawn(process.execPath, [NODE_JS, '--node-id', name, '--roles', role, ...args], {
    // stdin a pipe, SYNCMESH_EXIT_WITH_PARENT: the node leaves when this test process dies (a timed-out
    // test whose worker is killed leaves no node behind).
    stdio: ['pipe', 'pipe', 'pipe'],
    env: { ...process.env, ...env, SYNCMESH_EXIT_WITH_PARENT: '1' },
  });
  const log = createWriteStream(logFile);
  child.stderr!.pipe(log);
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const info = await new Promise<RoleNode['info']>((resolveInfo, reject) => {
    const timer = setTimeout(() => {
      void readFile(logFile, 'utf8')
        .catch(() => '')
        .then((text) => reject(new Error(`${name} not ready within 60 s; its log:\n${text.slice(-1500)}`)));
    }, 60_000);
    createInterface({ input: child.stdout! }).on('line', (line) => {
      if (!line.startsWith('ready ')) return;
      clearTimeout(timer);
      resolveInfo(JSON.parse(line.slice(6)) as RoleNode['info']);
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      // The log goes with the temporary directory: its tail is the error.
      void readFile(logFile, 'utf8')
        .catch(() => '')
        .then((text) => reject(new Error(`${name} exited with code ${code} before ready; its log:\n${text.slice(-1500)}`)));
    });
  }).catch(async (err: unknown) => {
    child.kill('SIGKILL');
    await exited;
    throw err;
  });
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    await exited;
    clearTimeout(timer);
  };
  return { name, role, pid: child.pid ?? -1, info, logFile, exited, stop };
}

/** Waits until the distributor sees `n` socket servers. */
export async function waitSocketServers(url: string, n: number, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    try {
      const body = (await (await fetch(`${url}/healthz`)).json()) as { socketServers?: number };
      if ((body.socketServers ?? 0) === n) return;
      last = JSON.stringify(body);
    } catch (err) {
      last = String(err);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`the distributor did not see ${n} socket servers within ${timeoutMs} ms (last /healthz: ${last})`);
}
