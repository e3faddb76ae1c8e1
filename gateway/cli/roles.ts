/**
 * Puts the roles of one node together: which actor kinds it hosts, which servers it runs, and the order in
 * which they start and stop. Used by gateway/cli/node.ts.
 */
import { connect } from '@nats-io/transport-node';
import type { NatsConnection } from '@nats-io/nats-core';
import type { Logger } from 'pino';
import { loadClusterSettings, startNode } from '../../runtime/mod.js';
import { natsConnectionOptions, type NatsClientConfig } from '../nats/mod.js';
import type { ActorKind, ActorNode } from '../../runtime/mod.js';
import { createCloudStore, parseStoreLimits, storeKind, type CloudStore } from '../../actors/store/mod.js';
import { pushKind } from '../../actors/push/mod.js';
import { distributorKind } from '../../actors/distributor/mod.js';
import { sessionKind } from '../../actors/session/mod.js';
import { startDistributor, type DistributorServer } from '../distributor/mod.js';
import { startSocketServer, type SocketServerHandle } from '../socket/mod.js';
import { createMetricsRegistry, startMetricsServer } from '../metrics/mod.js';
import type { MetricsServer } from '../metrics/mod.js';
import { UsageError } from './args.js';
import type { SecuritySettings } from './security.js';

export const ROLE_NAMES = ['gateway', 'storage', 'push', 'socket'] as const;
export type RoleName = (typeof ROLE_NAMES)[number];

export interface RolesConfig {
  roles: RoleName[];
  /** How to reach NATS (servers, credentials, TLS). */
  nats: NatsClientConfig;
  logger: Logger;
  nodeId?: string;
  prefix: string;
  /** JetStream replicas; absent: the cluster's settings (runtime loadClusterSettings). */
  replicas?: number;
  /** Storage role: StoreLimits overrides as name=value, and the command expiry (default: never). */
  storage?: { limits: readonly string[]; commandTtlMs?: number };
  gateway: { host: string; port: number; devMode: boolean; staticDir: string };
  /** Secrets, token policy, dev-mode settings and ticket lifetime (security.ts). */
  security: SecuritySettings;
  socket: { host: string; port: number; publicHost?: string; capacity: number; drainSpreadMs: number };
  /** Prometheus endpoint; absent = none. */
  metrics?: { host: string; port: number };
}

export interface RunningRoles {
  info: { node: string; roles: string[]; http?: string; socket?: string; metrics?: string };
  /** Graceful: a socket node drains its clients, then everything leaves the cluster. */
  stop(): Promise<void>;
}

export async function startRoles(cfg: RolesConfig): Promise<RunningRoles> {
  const has = (r: RoleName): boolean => cfg.roles.includes(r);
  const sec = cfg.security;

  let nc: NatsConnection;
  try {
    nc = await connect({
      ...(await natsConnectionOptions(cfg.nats)),
      maxReconnectAttempts: -1,
      reconnectTimeWait: 250,
      pingInterval: 5_000,
    });
  } catch (cause) {
    throw new Error(`cannot reach NATS at ${cfg.nats.servers.join(', ')}: ${(cause as Error).message}; start nats-server or pass --nats (and its credentials: --nats-nkey, --nats-ca)`, { cause });
  }
  cfg.logger.info({ server: nc.getServer() }, 'connected to NATS');
  // Replicas belong to the cluster: every stream and bucket below is created with the same count.
  const settings = await loadClusterSettings(nc, { prefix: cfg.prefix, writer: cfg.nodeId ?? cfg.roles.join('+'), ...(cfg.replicas !== undefined && { replicas: cfg.replicas }) }).catch(async (err: unknown) => {
    await nc.close().catch(() => undefined);
    throw err;
  });
  const { replicas } = settings;
  cfg.logger.info({ replicas, writtenBy: settings.writtenBy }, 'cluster settings');

  const kinds: ActorKind[] = [];
  let store: CloudStore | undefined;
  if (has('storage')) {
    let limits;
    try {
      limits = parseStoreLimits(cfg.storage?.limits ?? []);
    } catch (err) {
      throw new UsageError(`--store-limits: ${(err as Error).message}`);
    }
    const ttl = cfg.storage?.commandTtlMs;
    store = await createCloudStore({ nc, prefix: cfg.prefix, replicas, logger: cfg.logger, limits, ...(ttl !== undefined && { commandTtlMs: ttl }) });
    kinds.push(storeKind(store));
  }
  if (has('push')) kinds.push(pushKind({ prefix: cfg.prefix }));
  if (has('gateway')) kinds.push(distributorKind);
  if (has('socket')) kinds.push(sessionKind());

  const node: ActorNode = await startNode({
    nats: nc,
    roles: cfg.roles,
    kinds,
    logger: cfg.logger,
    prefix: cfg.prefix,
    replicas,
    ...(cfg.nodeId !== undefined && { nodeId: cfg.nodeId }),
  });

  let socket: SocketServerHandle | undefined;
  let distributor: DistributorServer | undefined;
  if (has('socket')) {
    socket = await startSocketServer(node, {
      ticketSecret: sec.ticketSecret,
      ticketTtlMs: sec.ticketTtlMs,
      host: cfg.socket.host,
      port: cfg.socket.port,
      capacity: cfg.socket.capacity,
      prefix: cfg.prefix,
      replicas,
      drainSpreadMs: cfg.socket.drainSpreadMs,
      ...(cfg.socket.publicHost !== undefined && { publicHost: cfg.socket.publicHost }),
    });
  }
  if (has('gateway')) {
    distributor = await startDistributor(node, {
      host: cfg.gateway.host,
      port: cfg.gateway.port,
      ticketSecret: sec.ticketSecret,
      ticketTtlMs: sec.ticketTtlMs,
      jwt: sec.jwt,
      devMode: cfg.gateway.devMode,
      devUnsafePublic: sec.devUnsafePublic,
      ...(sec.devTokenSecret !== undefined && { devTokenSecret: sec.devTokenSecret }),
      staticDir: cfg.gateway.staticDir,
    });
  }

  let metrics: MetricsServer | undefined;
  if (cfg.metrics) {
    const registry = createMetricsRegistry({ node, ...(socket && { socket }) });
    metrics = await startMetricsServer(registry, cfg.metrics.host, cfg.metrics.port);
  }

  return {
    info: {
      node: node.id,
      roles: cfg.roles,
      ...(distributor && { http: distributor.url }),
      ...(socket && { socket: socket.url }),
      ...(metrics && { metrics: metrics.url }),
    },
    stop: async () => {
      if (metrics) await metrics.close();
      if (socket) await socket.drain();
      if (distributor) await distributor.close();
      await node.close();
      if (store) await store.close();
      await nc.drain().catch(() => undefined);
    },
  };
}
