#!/usr/bin/env node
/**
 * One Syncmesh node: a process that joins the cluster through NATS and hosts the roles it is given.
 *
 *   node dist/gateway/cli/node.js --roles socket --nats nats://10.0.0.5:4222 --socket-port 9001
 *
 * Roles: gateway (distributor + HTTP API + demo page), storage (cloud storage actors), push (push server
 * actors), socket (a WebSocket socket server). Secrets come from the environment: SYNCMESH_TICKET_SECRET
 * (gateway, socket), SYNCMESH_JWT_SECRET and SYNCMESH_DEV_JWT_SECRET (gateway); token policy flags in
 * security.ts. Prints `ready {json}` on stdout once it accepts work;
 * logs (pino, JSON) go to stderr. SIGTERM/SIGINT leave gracefully (a socket node drains its clients first).
 */
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { parseFlags, usage, UsageError, type FlagSpec } from './args.js';
import { startRoles, type RoleName, ROLE_NAMES } from './roles.js';
import { createLogger } from './logger.js';
import { SECURITY_FLAGS, securitySettings } from './security.js';
import { isLoopbackHost } from '../distributor/mod.js';
import { NATS_FLAGS, natsClientConfig } from './nats-flags.js';

const spec = {
  roles: { kind: 'list', help: `comma-separated roles: ${ROLE_NAMES.join(', ')}` },
  ...NATS_FLAGS,
  'node-id': { kind: 'string', help: 'unique node id [A-Za-z0-9_-] (default: random)' },
  prefix: { kind: 'string', help: 'subject prefix shared by the cluster (default sm)' },
  replicas: { kind: 'int', min: 1, max: 5, help: 'JetStream replicas of every stream and bucket; must agree with the cluster settings (default $SYNCMESH_REPLICAS, else the cluster\'s; a first node picks 3 on clustered NATS, 1 on one server)' },
  'http-host': { kind: 'string', help: 'gateway: listen address (default 0.0.0.0)' },
  'http-port': { kind: 'int', min: 0, max: 65535, help: 'gateway: HTTP port (default 8080; 0 = free port)' },
  dev: { kind: 'bool', help: 'gateway: dev mode, enables POST /v1/dev/token (default off)' },
  'static-dir': { kind: 'string', help: 'gateway: directory served at / (default: the built demo page)' },
  'socket-host': { kind: 'string', help: 'socket: listen address (default 0.0.0.0)' },
  'socket-port': { kind: 'int', min: 0, max: 65535, help: 'socket: WebSocket port (default 0 = free port)' },
  'public-host': { kind: 'string', help: 'socket: host clients connect to (default: the listen address, or 127.0.0.1)' },
  capacity: { kind: 'int', min: 1, max: 1000, help: 'socket: weight in allocation (default 1)' },
  'drain-spread-ms': { kind: 'int', min: 0, max: 600000, help: 'socket: spread of reconnect delays on drain (default 5000)' },
  'store-limits': { kind: 'list', help: 'storage: quota and limit overrides name=value,... (maxUserBytes, maxDevicesPerUser, recordStreamBytes...; actors/store/README.md)' },
  'command-ttl-ms': { kind: 'int', min: 1, help: 'storage: drop unacknowledged device commands after this long (default: never)' },
  'metrics-port': { kind: 'int', min: 0, max: 65535, help: 'Prometheus GET /metrics on this port (default: none; 0 = free port)' },
  'metrics-host': { kind: 'string', help: 'address of the metrics endpoint (default 127.0.0.1)' },
  ...SECURITY_FLAGS,
  help: { kind: 'bool', help: 'print this help' },
} satisfies FlagSpec;

const here = dirname(fileURLToPath(import.meta.url));

async function main(): Promise<void> {
  const flags = parseFlags(process.argv.slice(2), spec);
  if (flags.help) {
    process.stdout.write(`usage: node dist/gateway/cli/node.js --roles ROLES [flags]\n${usage(spec)}\n`);
    return;
  }
  const roles = flags.roles ?? [];
  if (roles.length === 0) throw new UsageError(`--roles is required: one or more of ${ROLE_NAMES.join(', ')}`);
  for (const r of roles) if (!(ROLE_NAMES as readonly string[]).includes(r)) throw new UsageError(`unknown role ${JSON.stringify(r)}; roles are ${ROLE_NAMES.join(', ')}`);
  const devMode = flags.dev ?? false;
  const security = securitySettings(flags, { gateway: roles.includes('gateway'), socket: roles.includes('socket'), devMode });
  const httpHost = flags['http-host'] ?? '0.0.0.0';
  if (devMode && roles.includes('gateway') && !isLoopbackHost(httpHost) && !security.devUnsafePublic) {
    throw new UsageError(
      `--dev is refused with --http-host ${httpHost}: anyone who reaches it could get a token for any user. ` +
        'Pass --http-host 127.0.0.1, drop --dev, or add --dev-unsafe-public if you really mean it',
    );
  }
  const logger = createLogger({ roles: roles.join(',') });
  if (devMode && roles.includes('gateway')) {
    // On the console itself, not only in the JSON log: nobody should run dev mode without knowing.
    process.stderr.write(
      `syncmesh node: DEV MODE is on: POST /v1/dev/token hands out a token for any user id (listening on ${httpHost}). Never use it in production.\n`,
    );
  }
  const envReplicas = process.env['SYNCMESH_REPLICAS'];
  const replicas = flags.replicas ?? (envReplicas ? Number(envReplicas) : undefined);
  if (replicas !== undefined && !(Number.isInteger(replicas) && replicas >= 1 && replicas <= 5)) throw new UsageError(`SYNCMESH_REPLICAS must be a whole number from 1 to 5; got ${JSON.stringify(envReplicas)}`);

  const running = await startRoles({
    roles: roles as RoleName[],
    nats: natsClientConfig(flags, roles),
    logger,
    ...(flags['node-id'] !== undefined && { nodeId: flags['node-id'] }),
    prefix: flags.prefix ?? 'sm',
    ...(replicas !== undefined && { replicas }),
    storage: {
      limits: flags['store-limits'] ?? [],
      ...(flags['command-ttl-ms'] !== undefined && { commandTtlMs: flags['command-ttl-ms'] }),
    },
    security,
    gateway: {
      host: httpHost,
      port: flags['http-port'] ?? 8080,
      devMode,
      staticDir: flags['static-dir'] ?? join(here, '..', '..', 'web'),
    },
    socket: {
      host: flags['socket-host'] ?? '0.0.0.0',
      port: flags['socket-port'] ?? 0,
      ...(flags['public-host'] !== undefined && { publicHost: flags['public-host'] }),
      capacity: flags.capacity ?? 1,
      drainSpreadMs: flags['drain-spread-ms'] ?? 5_000,
    },
    ...(flags['metrics-port'] !== undefined && { metrics: { host: flags['metrics-host'] ?? '127.0.0.1', port: flags['metrics-port'] } }),
  });
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
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  if (process.env['SYNCMESH_EXIT_WITH_PARENT'] === '1') {
    // Started by `npm start`: when the launcher is gone (even by kill -9), stdin closes and this node leaves.
    process.stdin.on('end', () => stop('parent-exit'));
    process.stdin.resume();
  }
}

main().catch((err: unknown) => {
  if (err instanceof UsageError) {
    process.stderr.write(`syncmesh node: ${err.message}\nRun with --help for the flags.\n`);
    process.exit(2);
  }
  process.stderr.write(`syncmesh node: failed to start: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
