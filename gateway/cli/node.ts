/**
 * `syncmesh node`: one process that joins the cluster through NATS and hosts the roles it is given.
 *
 *   syncmesh node --roles socket --nats nats://10.0.0.5:4222 --socket-port 9001 --metrics-port 9100
 *
 * Roles: gateway (distributor + HTTP API + demo page), storage (cloud storage actors), push (push server
 * actors), socket (a WebSocket socket server). Settings: node-options.ts (flags and SYNCMESH_* variables).
 * Prints `ready {json}` on stdout once it accepts work; logs (pino, JSON) go to stderr. SIGTERM/SIGINT
 * leave gracefully (a socket node drains its clients first; /readyz answers 503 meanwhile).
 *
 * `node dist/gateway/cli/node.js ...` is the same program as `syncmesh node ...`.
 */
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { UsageError } from './errors.js';
import { createLogger } from './logger.js';
import { natsConnectOptions } from './nats-connect.js';
import { NODE_OPTIONS, type RoleName } from './node-options.js';
import type { OptionValues } from './options.js';
import { securitySettings } from './security.js';
import { isLoopbackHost } from '../distributor/mod.js';
import { isEntryPoint, registerCommand, runProgram, type Command } from './program.js';
import type { RolesConfig } from './roles.js';

const here = dirname(fileURLToPath(import.meta.url));
export type NodeSettings = OptionValues<typeof NODE_OPTIONS>;

/** Checks the settings together and turns them into what startRoles takes. Throws UsageError. */
export function rolesConfig(values: NodeSettings): Omit<RolesConfig, 'logger'> {
  const roles = values.roles as RoleName[];
  if (roles.length === 0) throw new UsageError('--roles is empty: give one or more of gateway, storage, push, socket');
  const has = (r: RoleName): boolean => roles.includes(r);
  if ((values['tls-cert'] === undefined) !== (values['tls-key'] === undefined)) {
    throw new UsageError('--tls-cert and --tls-key go together: give both (a PEM certificate and its key) or neither');
  }
  const publicUrl = values['public-url'];
  if (publicUrl !== undefined) {
    let u: URL;
    try {
      u = new URL(publicUrl);
    } catch {
      throw new UsageError(`--public-url ${JSON.stringify(publicUrl)} is not a URL; write it like wss://ws1.example.com/ws`);
    }
    if (u.protocol !== 'ws:' && u.protocol !== 'wss:') throw new UsageError(`--public-url must start with ws:// or wss://; got ${JSON.stringify(publicUrl)}`);
    if (u.search !== '' || u.hash !== '') throw new UsageError('--public-url must have no query or fragment: clients append ?ticket=... to it');
  }
  if (values.dev && has('gateway') && !isLoopbackHost(values['http-host']) && !values['dev-unsafe-public']) {
    throw new UsageError(
      `--dev is refused with --http-host ${values['http-host']}: anyone who reaches it could get a token for any user. ` +
        'Pass --http-host 127.0.0.1, drop --dev, or add --dev-unsafe-public if you really mean it',
    );
  }
  const tls = values['tls-cert'] !== undefined && values['tls-key'] !== undefined ? { certFile: values['tls-cert'], keyFile: values['tls-key'] } : undefined;
  return {
    roles,
    nats: natsConnectOptions(values, roles),
    ...(values['node-id'] !== undefined && { nodeId: values['node-id'] }),
    prefix: values.prefix,
    ...(values.replicas !== undefined && { replicas: values.replicas }),
    ...(values['store-partitions'] !== undefined && { storePartitions: values['store-partitions'] }),
    security: securitySettings(values, { gateway: has('gateway'), socket: has('socket'), devMode: values.dev }),
    gateway: {
      host: values['http-host'],
      port: values['http-port'],
      threads: values['http-threads'],
      devMode: values.dev,
      staticDir: values['static-dir'] ?? join(here, '..', '..', 'web'),
      ...(tls && { tls }),
    },
    storage: { limits: values['store-limits'], ...(values['command-ttl-ms'] !== undefined && { commandTtlMs: values['command-ttl-ms'] }) },
    socket: {
      host: values['socket-host'],
      port: values['socket-port'],
      ...(values['public-host'] !== undefined && { publicHost: values['public-host'] }),
      ...(publicUrl !== undefined && { publicUrl }),
      capacity: values.capacity,
      drainSpreadMs: values['drain-spread-ms'],
      maxStartingSessions: values['max-starting-sessions'],
      fallbackDeferStarting: values['fallback-defer-starting'],
      stormRate: values['storm-rate'],
      fallbackTicketTtlMs: values['fallback-ticket-ttl-ms'],
      ...(tls && { tls }),
    },
    ...(values['metrics-port'] !== undefined && { metrics: { host: values['metrics-host'], port: values['metrics-port'] } }),
  };
}

async function runNode(values: NodeSettings): Promise<void> {
  const config = rolesConfig(values);
  const logger = createLogger(values['log-level'], { roles: config.roles.join(',') });
  // Loaded only to run: --help and usage errors answer without loading uWebSockets.js, NATS and the actors.
  const { startRoles } = await import('./roles.js');
  if (values.dev && config.roles.includes('gateway')) {
    // On the console itself, not only in the JSON log: nobody should run dev mode without knowing.
    process.stderr.write(
      `syncmesh node: DEV MODE is on: POST /v1/dev/token hands out a token for any user id (listening on ${values['http-host']}). Never use it in production.\n`,
    );
  }
  const running = await startRoles({ ...config, logger });
  process.stdout.write(`ready ${JSON.stringify(running.info)}\n`);

  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'leaving the cluster');
    running
      .stop()
      .then(() => process.exit(0))
      .catch((err: unknown) => {
        logger.error({ err }, 'graceful stop failed');
        process.exit(1);
      });
  };
  // SIGTERM becomes a `drain` message to the socket-server actor (running.stop()); a drain told by another
  // node ends here too: once the socket server stopped, the node leaves the cluster and exits.
  void running.socketStopped?.then(() => stop('socket server stopped'));
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  if (process.env['SYNCMESH_EXIT_WITH_PARENT'] === '1') {
    // Started by `syncmesh cluster`: when the launcher is gone (even by kill -9), stdin closes and this node leaves.
    process.stdin.on('end', () => stop('parent-exit'));
    process.stdin.resume();
  }
}

export const nodeCommand: Command<typeof NODE_OPTIONS> = {
  name: 'node',
  summary: 'run one node with any set of roles against an existing NATS cluster',
  synopsis: 'syncmesh node --roles ROLES [flags]',
  description: [
    'Joins the cluster through NATS and hosts the given roles: gateway (distributor, HTTP API, demo page),',
    'storage (cloud storage on JetStream), push (push server), socket (WebSocket socket server).',
    'Prints `ready {json}` on stdout once it accepts work; logs JSON lines on stderr.',
    'SIGTERM or SIGINT leaves gracefully: a socket node first drains its clients to the other nodes.',
    'Each flag can also be given as the environment variable shown; the flag wins.',
  ].join('\n'),
  options: NODE_OPTIONS,
  run: runNode,
};

if (isEntryPoint(import.meta.url)) {
  registerCommand(nodeCommand);
  runProgram(['node', ...process.argv.slice(2)]);
}
