/**
 * Prometheus metrics of one node: the runtime's counters and gauges, the socket server's, and Node.js
 * process metrics, read when scraped (nothing is counted twice: the sources keep the numbers).
 */
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { ActorNode, RuntimeMetrics } from '../../runtime/mod.js';
import type { SocketServerStats } from '../socket/mod.js';

/** Runtime counters (monotonic) and gauges, by RuntimeMetrics field. */
const RUNTIME_COUNTERS: Record<string, { field: keyof RuntimeMetrics; help: string }> = {
  syncmesh_runtime_messages_in_total: { field: 'messagesIn', help: 'Actor messages received by this node' },
  syncmesh_runtime_messages_out_total: { field: 'messagesOut', help: 'Actor messages sent by this node' },
  syncmesh_runtime_asks_total: { field: 'asksSent', help: 'Asks sent by this node' },
  syncmesh_runtime_ask_timeouts_total: { field: 'askTimeouts', help: 'Asks that passed their deadline' },
  syncmesh_runtime_restarts_total: { field: 'restarts', help: 'Actor restarts by supervision' },
  syncmesh_runtime_bad_messages_total: { field: 'badMessages', help: 'Malformed envelopes received' },
  syncmesh_runtime_mailbox_dropped_total: { field: 'mailboxDropped', help: 'Messages dropped by full mailboxes' },
  syncmesh_runtime_dead_letters_total: { field: 'deadLetters', help: 'Tells that reached no actor' },
  syncmesh_runtime_activations_total: { field: 'activations', help: 'Actors started on this node' },
  syncmesh_runtime_host_waits_total: { field: 'hostWaits', help: 'Messages held until a node hosting their kind joined' },
  syncmesh_runtime_host_wait_refused_total: { field: 'hostWaitRefused', help: 'Messages refused because too many waited for a host' },
  syncmesh_runtime_host_wait_expired_total: { field: 'hostWaitExpired', help: 'Messages whose wait for a host ran out' },
};
const RUNTIME_GAUGES: Record<string, { field: keyof RuntimeMetrics; help: string }> = {
  syncmesh_runtime_active_actors: { field: 'activeActors', help: 'Actors running on this node' },
  syncmesh_runtime_mailbox_depth: { field: 'mailboxDepth', help: 'Messages waiting in mailboxes' },
  syncmesh_runtime_members: { field: 'members', help: 'Live cluster members seen by this node' },
  syncmesh_runtime_waiting_for_host: { field: 'waitingForHost', help: 'Messages waiting for a node hosting their kind' },
};

const SOCKET_COUNTERS: Record<string, { field: keyof SocketServerStats; help: string }> = {
  syncmesh_socket_opened_total: { field: 'opened', help: 'WebSocket connections opened' },
  syncmesh_socket_refused_total: { field: 'refused', help: 'Upgrades refused (bad ticket or draining)' },
  syncmesh_socket_replaced_total: { field: 'replaced', help: 'Sessions replaced by a newer connection' },
  syncmesh_socket_slow_consumers_total: { field: 'slowConsumers', help: 'Connections cut for not reading' },
  syncmesh_socket_rate_limited_total: { field: 'rateLimited', help: 'Frames refused by the rate limit' },
  syncmesh_socket_bad_frames_total: { field: 'badFrames', help: 'Text or undecodable frames' },
  syncmesh_socket_pushes_delivered_total: { field: 'pushesDelivered', help: 'Pushed frames delivered to sessions' },
};
const SOCKET_GAUGES: Record<string, { field: keyof SocketServerStats; help: string }> = {
  syncmesh_socket_connections: { field: 'connections', help: 'Open WebSocket connections' },
  syncmesh_socket_users: { field: 'users', help: 'Distinct users with connections on this node' },
};

export interface MetricsSources {
  node: ActorNode;
  socket?: { stats(): SocketServerStats };
}

/** A registry whose metrics read `sources` at scrape time. */
export function createMetricsRegistry(sources: MetricsSources): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ node: sources.node.id });
  collectDefaultMetrics({ register: registry });
  let runtime: RuntimeMetrics | undefined;
  let socket: SocketServerStats | undefined;
  // One read of each source per scrape, shared by every metric below.
  const refresh = (): void => {
    runtime = sources.node.metrics();
    socket = sources.socket?.stats();
  };
  new Gauge({
    name: 'syncmesh_up',
    help: '1 while the node runs',
    registers: [registry],
    collect() {
      refresh();
      this.set(1);
    },
  });
  for (const [name, { field, help }] of Object.entries(RUNTIME_COUNTERS)) {
    new Counter({ name, help, registers: [registry], collect() { this.reset(); this.inc(Number(runtime?.[field] ?? 0)); } });
  }
  for (const [name, { field, help }] of Object.entries(RUNTIME_GAUGES)) {
    new Gauge({ name, help, registers: [registry], collect() { this.set(Number(runtime?.[field] ?? 0)); } });
  }
  if (sources.socket) {
    for (const [name, { field, help }] of Object.entries(SOCKET_COUNTERS)) {
      new Counter({ name, help, registers: [registry], collect() { this.reset(); this.inc(Number(socket?.[field] ?? 0)); } });
    }
    for (const [name, { field, help }] of Object.entries(SOCKET_GAUGES)) {
      new Gauge({ name, help, registers: [registry], collect() { this.set(Number(socket?.[field] ?? 0)); } });
    }
  }
  return registry;
}
