/**
 * Puts the roles of one node together: which actor kinds it hosts, which servers it runs, its health
 * and metrics, and the order in which they start and stop. Used by gateway/cli/node.ts.
 */
import { readFile } from 'node:fs/promises';
import { connect } from '@nats-io/transport-node';
import type { NatsConnection } from '@nats-io/nats-core';
import type { Logger } from 'pino';
import { coalesceWrites, loadClusterSettings, startNode } from '../../runtime/mod.js';
import { natsConnectionOptions, type NatsClientConfig } from '../nats/mod.js';
import type { ActorKind, ActorNode } from '../../runtime/mod.js';
import { createCloudStore, parseStoreLimits, storeKind, type CloudStore } from '../../actors/store/mod.js';
import { pushKind } from '../../actors/push/mod.js';
import { distributorKind } from '../../actors/distributor/mod.js';
import { sessionKind } from '../../actors/session/mod.js';
import { socketServerKind } from '../../actors/socket-server/mod.js';
import { startDistributor, type DistributorServer } from '../distributor/mod.js';
import { startSocketServer, type SocketServerHandle, type TlsFiles } from '../socket/mod.js';
import { createNodeMetrics, jetStreamCheck, readiness, startOpsServer, watchNats, type OpsServer, type ReadinessCheck } from '../metrics/mod.js';
import { StartError, UsageError } from './errors.js';
import type { RoleName } from './node-options.js';
import type { SecuritySettings } from './security.js';

export interface RolesConfig {
  roles: RoleName[];
  /** How to reach NATS (servers, credentials, TLS). */
  nats: NatsClientConfig;
  logger: Logger;
  nodeId?: string;
  prefix: string;
  /** JetStream replicas; absent: the cluster's settings (runtime loadClusterSettings). */
  replicas?: number;
  /** Storage partitions; absent: the cluster's settings (runtime loadClusterSettings). */
  storePartitions?: number;
  /** Storage role: StoreLimits overrides as name=value, and the command expiry (default: never). */
  storage?: { limits: readonly string[]; commandTtlMs?: number };
  gateway: { host: string; port: number; threads?: number; devMode: boolean; staticDir: string; tls?: TlsFiles };
  /** Secrets, token policy, dev-mode settings and ticket lifetime (security.ts). */
  security: SecuritySettings;
  socket: { host: string; port: number; publicHost?: string; publicUrl?: string; capacity: number; drainSpreadMs: number; maxStartingSessions: number; fallbackTicketTtlMs: number; fallbackDeferStarting: number; stormRate: number; tls?: TlsFiles };
  /** Metrics and health endpoint; absent = none. */
  metrics?: { host: string; port: number };
}

/** What the node prints in its `ready` line (and the local cluster keeps in cluster.json). */
export interface RunningInfo {
  node: string;
  roles: string[];
  http?: string;
  socket?: string;
  /** Where the socket server listens (HOST:PORT); differs from `socket` behind a proxy (--public-url). */
  socketListen?: string;
  metrics?: string;
  healthz?: string;
  readyz?: string;
}

export interface RunningRoles {
  info: RunningInfo;
  /**
   * Resolves when this node's socket server actor stopped without stop() being called (it was told to
   * drain or close by a message, from any node): the node has nothing left to serve and should leave.
   */
  socketStopped?: Promise<void>;
  /** Graceful: a socket node drains its clients (a `drain` message to its socket-server actor; readyz says so meanwhile), then everything leaves the cluster. */
  stop(): Promise<void>;
}

/** A certificate or key that cannot be read is a start error that names the file. */
async function checkTls(tls: TlsFiles | undefined): Promise<void> {
  if (tls === undefined) return;
  for (const [what, file] of [['--tls-cert', tls.certFile], ['--tls-key', tls.keyFile]] as const) {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      throw new StartError(`cannot read ${what} ${file}: ${(err as Error).message}`, { cause: err });
    }
    if (!text.includes('-----BEGIN ')) throw new StartError(`${what} ${file} is not a PEM file (no -----BEGIN line)`);
  }
}

export async function startRoles(cfg: RolesConfig): Promise<RunningRoles> {
  const has = (r: RoleName): boolean => cfg.roles.includes(r);
  if (has('gateway')) await checkTls(cfg.gateway.tls);
  if (has('socket')) await checkTls(cfg.socket.tls);
  const sec = cfg.security;

  let nc: NatsConnection;
  try {
    nc = await connect({
      ...(await natsConnectionOptions(cfg.nats)),
      // A node never gives up on NATS: /readyz says 503 while it is away, and the node resumes when it is back.
      maxReconnectAttempts: -1,
      reconnectTimeWait: 250,
      pingInterval: 5_000,
      // nats.js otherwise builds two Error objects (stack traces) for every request, to report where a
      // timeout came from: 7% of the storage node's CPU under load (a JetStream write is a request).
      noAsyncTraces: true,
    });
  } catch (cause) {
    throw new StartError(`cannot reach NATS at ${cfg.nats.servers.join(', ')}: ${(cause as Error).message}; start nats-server or pass --nats (and its credentials: --nats-nkey, --nats-ca)`, { cause });
  }
  // One socket write per event-loop turn: a socket node's uWebSockets.js events are separate macrotasks.
  if (!coalesceWrites(nc)) cfg.logger.warn('this nats.js version is not the shape write coalescing knows: every macrotask writes on its own');
  cfg.logger.info({ server: nc.getServer() }, 'connected to NATS');
  // Replicas belong to the cluster: every stream and bucket below is created with the same count.
  const settings = await loadClusterSettings(nc, {
    prefix: cfg.prefix,
    writer: cfg.nodeId ?? cfg.roles.join('+'),
    ...(cfg.replicas !== undefined && { replicas: cfg.replicas }),
    ...(cfg.storePartitions !== undefined && { storePartitions: cfg.storePartitions }),
  }).catch(async (err: unknown) => {
    await nc.close().catch(() => undefined);
    throw err;
  });
  const { replicas, storePartitions } = settings;
  cfg.logger.info({ replicas, storePartitions, writtenBy: settings.writtenBy }, 'cluster settings');

  const metrics = createNodeMetrics(cfg.roles);
  const nats = watchNats(nc, (e) => metrics.natsEvent(e));
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
    store = await createCloudStore({ nc, prefix: cfg.prefix, replicas, partitions: storePartitions, logger: cfg.logger, limits, ...(ttl !== undefined && { commandTtlMs: ttl }) });
    kinds.push(storeKind(store, { observer: metrics.store }));
  }
  if (has('push')) kinds.push(pushKind({ prefix: cfg.prefix, observer: metrics.push }));
  if (has('gateway')) kinds.push(distributorKind);
  if (has('socket')) kinds.push(socketServerKind(), sessionKind());

  const node: ActorNode = await startNode({
    nats: nc,
    roles: cfg.roles,
    kinds,
    logger: cfg.logger,
    prefix: cfg.prefix,
    replicas,
    onRemoteAsk: metrics.remoteAsk,
    ...(cfg.nodeId !== undefined && { nodeId: cfg.nodeId }),
  });

  let socket: SocketServerHandle | undefined;
  let distributor: DistributorServer | undefined;
  let stopping = false;
  if (has('socket')) {
    socket = await startSocketServer(node, {
      ticketSecret: sec.ticketSecret,
      ticketTtlMs: sec.ticketTtlMs,
      host: cfg.socket.host,
      port: cfg.socket.port,
      capacity: cfg.socket.capacity,
      prefix: cfg.prefix,
      replicas,
      storePartitions,
      drainSpreadMs: cfg.socket.drainSpreadMs,
      maxStartingSessions: cfg.socket.maxStartingSessions,
      fallbackDeferStarting: cfg.socket.fallbackDeferStarting,
      stormRate: cfg.socket.stormRate,
      fallbackTicketTtlMs: cfg.socket.fallbackTicketTtlMs,
      observer: metrics.socket,
      ...(cfg.socket.publicHost !== undefined && { publicHost: cfg.socket.publicHost }),
      ...(cfg.socket.publicUrl !== undefined && { publicUrl: cfg.socket.publicUrl }),
      ...(cfg.socket.tls !== undefined && { tls: cfg.socket.tls }),
    });
  }
  if (has('gateway')) {
    distributor = await startDistributor(node, {
      host: cfg.gateway.host,
      port: cfg.gateway.port,
      ...(cfg.gateway.threads !== undefined && { threads: cfg.gateway.threads }),
      ticketSecret: sec.ticketSecret,
      ticketTtlMs: sec.ticketTtlMs,
      jwt: sec.jwt,
      devMode: cfg.gateway.devMode,
      devUnsafePublic: sec.devUnsafePublic,
      ...(sec.devTokenSecret !== undefined && { devTokenSecret: sec.devTokenSecret }),
      staticDir: cfg.gateway.staticDir,
      observer: metrics.distributor,
      ...(cfg.gateway.tls !== undefined && { tls: cfg.gateway.tls }),
    });
  }
  metrics.attach({ node, ...(socket && { socket }), natsConnected: () => nats.connected });

  // "Its servers listening": set while they listen, cleared when stop() closes them.
  let socketListening = socket !== undefined;
  let gatewayListening = distributor !== undefined;
  const checks: Record<string, ReadinessCheck> = {
    nats: nats.check,
    jetstream: jetStreamCheck(nc),
    draining: () => (socket?.stats().draining ? 'draining: clients are being moved to other socket nodes' : stopping ? 'the node is leaving the cluster' : undefined),
  };
  if (socket) checks['socket'] = () => (socketListening ? undefined : 'the WebSocket server is not listening');
  if (distributor) checks['gateway'] = () => (gatewayListening ? undefined : 'the HTTP API is not listening');

  let ops: OpsServer | undefined;
  if (cfg.metrics) {
    ops = await startOpsServer({ node: node.id, registry: metrics.registry, readiness: () => readiness(checks) }, cfg.metrics.host, cfg.metrics.port);
  }

  return {
    ...(socket && { socketStopped: socket.stopped }),
    info: {
      node: node.id,
      roles: cfg.roles,
      ...(distributor && { http: distributor.url }),
      ...(socket && { socket: socket.url, socketListen: `${cfg.socket.host}:${socket.port}` }),
      ...(ops && { metrics: `${ops.url}/metrics`, healthz: `${ops.url}/healthz`, readyz: `${ops.url}/readyz` }),
    },
    stop: async () => {
      stopping = true;
      // The ops endpoint stays up while the socket server drains, so /readyz says 503 draining meanwhile.
      if (socket) await socket.drain();
      socketListening = false;
      if (distributor) await distributor.close();
      gatewayListening = false;
      if (ops) await ops.close();
      nats.stop();
      await node.close();
      if (store) await store.close();
      await nc.drain().catch(() => undefined);
    },
  };
}
