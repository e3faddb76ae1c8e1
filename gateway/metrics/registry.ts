/**
 * Prometheus metrics of one node, every role (docs/operations.md lists them all).
 *
 * Two ways in, each where it is cheapest:
 * - read at scrape time from counters the parts keep anyway: the runtime (ActorNode.metrics()) and the
 *   socket server (stats()); nothing is counted twice;
 * - observers handed to the parts when they are built (store, push, distributor, socket push latency,
 *   remote asks): one prom-client inc/observe per event, no allocation on the hot path.
 *
 * Create it before the parts (they take its observers), then attach() the node and socket server.
 * Observers of roles the node does not have are still valid (they count into unregistered metrics).
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { PushObserver } from '../../actors/push/mod.js';
import type { StoreObserver } from '../../actors/store/mod.js';
import type { DistributorObserver } from '../distributor/mod.js';
import type { ActorNode, RuntimeMetrics } from '../../runtime/mod.js';
import type { SocketObserver, SocketServerStats } from '../socket/mod.js';

/** Latency buckets in seconds: sub-millisecond local work up to the 10 s store deadline. */
const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** Runtime counters (monotonic), by RuntimeMetrics field. */
const RUNTIME_COUNTERS: Record<string, { field: keyof RuntimeMetrics; help: string }> = {
  syncmesh_runtime_messages_in_total: { field: 'messagesIn', help: 'Actor messages received by this node' },
  syncmesh_runtime_messages_out_total: { field: 'messagesOut', help: 'Actor messages sent by this node' },
  syncmesh_runtime_asks_total: { field: 'asksSent', help: 'Asks sent by this node' },
  syncmesh_runtime_ask_timeouts_total: { field: 'askTimeouts', help: 'Asks that passed their deadline' },
  syncmesh_runtime_restarts_total: { field: 'restarts', help: 'Actor restarts by supervision' },
  syncmesh_runtime_bad_messages_total: { field: 'badMessages', help: 'Malformed envelopes received' },
  syncmesh_runtime_spawns_refused_total: { field: 'spawnsRefused', help: 'Spawns from other nodes refused (kind not hosted, virtual, or local-only)' },
  syncmesh_runtime_stray_replies_total: { field: 'strayReplies', help: 'Replies that matched no ask in flight (late, duplicate or forged)' },
  syncmesh_runtime_mailbox_dropped_total: { field: 'mailboxDropped', help: 'Messages dropped by full mailboxes' },
  syncmesh_runtime_asks_expired_total: { field: 'asksExpired', help: 'Asks not run because they reached the actor past their deadline (the asker had given up)' },
  syncmesh_runtime_dead_letters_total: { field: 'deadLetters', help: 'Tells that reached no actor' },
  syncmesh_runtime_activations_total: { field: 'activations', help: 'Actors started on this node' },
  syncmesh_runtime_answered_inactive_total: { field: 'answeredInactive', help: 'Messages a virtual kind answered without activating the actor (reads such as the pending-commands look-up at connect)' },
  syncmesh_runtime_hibernations_total: { field: 'hibernations', help: 'Idle actors hibernated (XState actor stopped, snapshot kept)' },
  syncmesh_runtime_host_waits_total: { field: 'hostWaits', help: 'Messages held until a node hosting their kind joined' },
  syncmesh_runtime_host_wait_refused_total: { field: 'hostWaitRefused', help: 'Messages refused because too many waited for a host' },
  syncmesh_runtime_host_wait_expired_total: { field: 'hostWaitExpired', help: 'Messages whose wait for a host ran out' },
};
const RUNTIME_GAUGES: Record<string, { field: keyof RuntimeMetrics; help: string }> = {
  syncmesh_runtime_members: { field: 'members', help: 'Live cluster members seen by this node' },
  syncmesh_runtime_waiting_for_host: { field: 'waitingForHost', help: 'Messages waiting for a node hosting their kind' },
  syncmesh_runtime_inbound_backlog: { field: 'inboundBacklog', help: 'Envelopes received and not handled yet (the node is behind; handled in time slices)' },
  syncmesh_runtime_hibernated_actors: { field: 'hibernatedActors', help: 'Actors hibernated now (their XState actor stopped until the next message)' },
};

const SOCKET_COUNTERS: Record<string, { field: keyof SocketServerStats; help: string }> = {
  syncmesh_socket_opened_total: { field: 'opened', help: 'WebSocket connections opened' },
  syncmesh_socket_refused_total: { field: 'refused', help: 'Upgrades refused (bad ticket, draining, or shed)' },
  syncmesh_socket_shed_total: { field: 'shed', help: 'Upgrades answered 503 by admission control: the node was starting its limit of sessions (maxStartingSessions)' },
  syncmesh_socket_replaced_total: { field: 'replaced', help: 'Sessions replaced by a newer connection' },
  syncmesh_socket_slow_consumers_total: { field: 'slowConsumers', help: 'Connections cut for not reading' },
  syncmesh_socket_policy_closed_total: { field: 'policyClosed', help: 'Connections closed for sustained rate-limit abuse' },
  syncmesh_socket_bad_frames_total: { field: 'badFrames', help: 'Text or undecodable frames' },
  syncmesh_socket_pushes_delivered_total: { field: 'pushesDelivered', help: 'Pushed frames handed to sessions (one per matching connection)' },
  syncmesh_socket_bad_push_envelopes_total: { field: 'badPushEnvelopes', help: 'Malformed push envelopes dropped' },
  syncmesh_socket_fallback_frames_total: { field: 'fallbackFrames', help: 'Fallback offers sent after the welcome (the socket servers changed, the half-life refresh, or left out of a welcome in a burst)' },
  syncmesh_socket_fallback_deferred_total: { field: 'fallbackDeferred', help: 'Welcomes sent without their fallback offer while the node started a burst of sessions (the offer followed in a frame)' },
};
const SOCKET_GAUGES: Record<string, { field: keyof SocketServerStats; help: string }> = {
  syncmesh_socket_connections: { field: 'connections', help: 'Open WebSocket connections' },
  syncmesh_socket_starting_sessions: { field: 'starting', help: 'Sessions starting now: sockets open whose pending commands are not fetched yet (admission control bounds them)' },
  syncmesh_socket_users: { field: 'users', help: 'Distinct users with connections on this node' },
  syncmesh_socket_push_slots: { field: 'pushSlots', help: 'Push slots this node subscribes to (one NATS subscription each)' },
  syncmesh_socket_fallback_pending: { field: 'fallbackPending', help: 'Connections whose new fallback offer is scheduled but not sent yet' },
  syncmesh_socket_storm_spread_ms: { field: 'stormSpreadMs', help: "The reconnect spread this node's fallback offers carry now: its connections / (other socket nodes x stormRate), in ms (0: none)" },
  syncmesh_socket_quota_owned: { field: 'quotaOwned', help: 'Live connections (on any node) this node counts as the owner of their users (connection quota)' },
};

/** Kind name of the session actors (actors/session), one per connection. */
const SESSION_KIND = 'session';

/** The metrics of one node: the registry to scrape and the observers to hand to its parts. */
export interface NodeMetrics {
  readonly registry: Registry;
  readonly store: StoreObserver;
  readonly push: PushObserver;
  readonly distributor: DistributorObserver;
  readonly socket: SocketObserver;
  /** NodeOptions.onRemoteAsk. */
  readonly remoteAsk: (seconds: number, answered: boolean) => void;
  /** A NATS connection status event (NatsWatch reports them). */
  natsEvent(type: 'reconnect' | 'disconnect'): void;
  /** Scrape-time sources, once they exist. */
  attach(sources: { node: ActorNode; socket?: { stats(): SocketServerStats }; natsConnected: () => boolean }): void;
}

/**
 * The metrics of a node with `roles`: every node gets the runtime, NATS and process metrics, and each
 * role its own (socket, storage, push, gateway), so a scrape shows only what the node does.
 */
export function createNodeMetrics(roles: readonly string[]): NodeMetrics {
  const has = (role: string): boolean => roles.includes(role);
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const registers = [registry];
  let node: ActorNode | undefined;
  let socket: { stats(): SocketServerStats } | undefined;
  let natsConnected: () => boolean = () => false;
  // One read of each source per scrape, shared by every metric below (syncmesh_up is registered first).
  let runtime: RuntimeMetrics | undefined;
  let socketStats: SocketServerStats | undefined;

  new Gauge({
    name: 'syncmesh_up',
    help: '1 while the node runs',
    registers,
    collect() {
      runtime = node?.metrics();
      socketStats = socket?.stats();
      this.set(1);
    },
  });
  new Gauge({ name: 'syncmesh_nats_connected', help: '1 while the NATS connection is up', registers, collect() { this.set(natsConnected() ? 1 : 0); } });
  const natsReconnects = new Counter({ name: 'syncmesh_nats_reconnects_total', help: 'Reconnections to NATS', registers });
  const natsDisconnects = new Counter({ name: 'syncmesh_nats_disconnects_total', help: 'Losses of the NATS connection', registers });

  // --- runtime: counters read from node.metrics()
  for (const [name, { field, help }] of Object.entries(RUNTIME_COUNTERS)) {
    new Counter({ name, help, registers, collect() { this.reset(); this.inc(Number(runtime?.[field] ?? 0)); } });
  }
  for (const [name, { field, help }] of Object.entries(RUNTIME_GAUGES)) {
    new Gauge({ name, help, registers, collect() { this.set(Number(runtime?.[field] ?? 0)); } });
  }
  const byKind = (pick: (k: { active: number; mailboxDepth: number }) => number) =>
    function collect(this: Gauge): void {
      this.reset();
      for (const [kind, k] of Object.entries(runtime?.actorsByKind ?? {})) this.set({ kind }, pick(k));
    };
  new Gauge({ name: 'syncmesh_runtime_active_actors', help: 'Actors running on this node, by kind', labelNames: ['kind'], registers, collect: byKind((k) => k.active) });
  new Gauge({ name: 'syncmesh_runtime_mailbox_depth', help: 'Messages waiting in mailboxes, by kind', labelNames: ['kind'], registers, collect: byKind((k) => k.mailboxDepth) });
  const remoteAsk = new Histogram({ name: 'syncmesh_runtime_remote_ask_seconds', help: 'Round trip of asks to actors on other nodes', labelNames: ['outcome'], buckets: LATENCY_BUCKETS, registers });

  // --- socket server
  const socketRegisters = has('socket') ? registers : [];
  for (const [name, { field, help }] of Object.entries(SOCKET_COUNTERS)) {
    new Counter({ name, help, registers: socketRegisters, collect() { this.reset(); if (socketStats) this.inc(Number(socketStats[field])); } });
  }
  for (const [name, { field, help }] of Object.entries(SOCKET_GAUGES)) {
    new Gauge({ name, help, registers: socketRegisters, collect() { this.set(Number(socketStats?.[field] ?? 0)); } });
  }
  new Gauge({
    name: 'syncmesh_socket_sessions',
    help: 'Client session actors running on this node (one per open connection once it is set up)',
    registers: socketRegisters,
    collect() { this.set(runtime?.actorsByKind[SESSION_KIND]?.active ?? 0); },
  });
  new Gauge({ name: 'syncmesh_socket_draining', help: '1 while this socket server drains', registers: socketRegisters, collect() { this.set(socketStats?.draining ? 1 : 0); } });
  const pushDelivery = new Histogram({
    name: 'syncmesh_push_delivery_seconds',
    help: 'From the push server publishing a push to this socket node handing it to its sessions (clocks of both hosts must agree)',
    buckets: LATENCY_BUCKETS,
    registers: socketRegisters,
  });

  // --- rate limits, every layer: the socket layer is read from stats(), the others counted as they refuse
  const rateLimited = new Counter({
    name: 'syncmesh_rate_limited_total',
    help: 'Requests refused by a rate limit: layer socket (frames), distributor (connect requests), store (requests of one user at work)',
    labelNames: ['layer'],
    registers,
    collect() {
      if (!socketStats) return;
      this.remove({ layer: 'socket' });
      this.inc({ layer: 'socket' }, socketStats.rateLimited);
    },
  });

  // --- store
  const storeRegisters = has('storage') ? registers : [];
  const pushRegisters = has('push') ? registers : [];
  const gatewayRegisters = has('gateway') ? registers : [];
  const commits = new Counter({ name: 'syncmesh_store_commits_total', help: 'Commits answered, by outcome (ok or error code)', labelNames: ['outcome'], registers: storeRegisters });
  const pulls = new Counter({ name: 'syncmesh_store_pulls_total', help: 'Pulls answered, by outcome (ok or error code)', labelNames: ['outcome'], registers: storeRegisters });
  const conflicts = new Counter({ name: 'syncmesh_store_conflicts_total', help: 'Changes not applied because their base was stale', registers: storeRegisters });
  const commands = new Counter({ name: 'syncmesh_store_commands_total', help: 'Device command requests answered: op send, ack, pending, clearDelivered; by outcome', labelNames: ['op', 'outcome'], registers: storeRegisters });
  const storeRefusals = new Counter({ name: 'syncmesh_store_refusals_total', help: 'Storage requests answered with an error, by request and code', labelNames: ['op', 'code'], registers: storeRegisters });
  const commitSeconds = new Histogram({ name: 'syncmesh_store_commit_seconds', help: 'Commit latency in the store actor (arrival to answer)', buckets: LATENCY_BUCKETS, registers: storeRegisters });
  const pullSeconds = new Histogram({ name: 'syncmesh_store_pull_seconds', help: 'Pull latency in the store actor (arrival to answer)', buckets: LATENCY_BUCKETS, registers: storeRegisters });

  // --- push server
  const pushed = new Counter({ name: 'syncmesh_push_published_total', help: 'Push messages published on NATS by the push server', registers: pushRegisters });
  const pushDropped = new Counter({ name: 'syncmesh_push_dropped_total', help: 'Malformed push requests dropped by the push server', registers: pushRegisters });

  // --- distributor
  const allocations = new Counter({ name: 'syncmesh_distributor_allocations_total', help: 'Connect requests answered with a socket server', registers: gatewayRegisters });
  const refusals = new Counter({ name: 'syncmesh_distributor_refusals_total', help: 'API requests refused, by route and error code', labelNames: ['route', 'code'], registers: gatewayRegisters });

  const store: StoreObserver = {
    served(request, seconds, outcome, conflicted) {
      if (outcome !== 'ok') {
        storeRefusals.inc({ op: request, code: outcome });
        if (outcome === 'rate_limited') rateLimited.inc({ layer: 'store' });
      }
      switch (request) {
        case 'commit':
          commits.inc({ outcome });
          if (conflicted > 0) conflicts.inc(conflicted);
          commitSeconds.observe(seconds);
          return;
        case 'pull':
          pulls.inc({ outcome });
          pullSeconds.observe(seconds);
          return;
        default:
          commands.inc({ op: request, outcome });
      }
    },
  };

  return {
    registry,
    store,
    push: { published: (n) => pushed.inc(n), dropped: () => pushDropped.inc() },
    distributor: {
      answered(route, outcome) {
        if (outcome === 'ok') {
          if (route === 'connect') allocations.inc();
          return;
        }
        refusals.inc({ route, code: outcome });
        if (outcome === 'rate_limited') rateLimited.inc({ layer: 'distributor' });
      },
    },
    socket: { pushDelivered: (seconds) => pushDelivery.observe(seconds) },
    remoteAsk: (seconds, answered) => remoteAsk.observe({ outcome: answered ? 'ok' : 'error' }, seconds),
    natsEvent: (type) => (type === 'reconnect' ? natsReconnects.inc() : natsDisconnects.inc()),
    attach(sources) {
      node = sources.node;
      socket = sources.socket;
      natsConnected = sources.natsConnected;
      registry.setDefaultLabels({ node: node.id });
    },
  };
}
