/**
 * The metrics registry of a node in-process: observers and scrape-time sources become the documented
 * Prometheus series, and a node shows only the metrics of its roles. (metrics.test.ts checks the same
 * names with live values on a running cluster.)
 */
import { describe, expect, it } from 'vitest';
import { createNodeMetrics } from '../../gateway/metrics/mod.js';
import type { ActorNode, RuntimeMetrics } from '../../runtime/mod.js';
import type { SocketServerStats } from '../../gateway/socket/mod.js';
import { metricValue } from '../kit/syncmesh.js';

const runtime: RuntimeMetrics = {
  messagesIn: 7, messagesOut: 5, asksSent: 4, askTimeouts: 1, restarts: 0, badMessages: 0, spawnsRefused: 1, strayReplies: 0, mailboxDropped: 0, asksExpired: 0, deadLetters: 2,
  activations: 3, answeredInactive: 6, hibernations: 0, hibernatedActors: 0, hostWaits: 0, hostWaitRefused: 0, hostWaitExpired: 0, activeActors: 3, mailboxDepth: 2, members: 4, waitingForHost: 0, inboundBacklog: 12,
  actorsByKind: { session: { active: 2, mailboxDepth: 1 }, store: { active: 1, mailboxDepth: 1 } },
};
const socketStats: SocketServerStats = {
  connections: 2, users: 1, draining: true, phase: 'draining', opened: 5, refused: 1, replaced: 0, slowConsumers: 0, rateLimited: 9, policyClosed: 0, badFrames: 1, pushesDelivered: 6, badPushEnvelopes: 0,
  quotaRefused: 0, resyncs: 0, resyncFrames: 0, slowConsumerBufferedMax: 0, pushSlots: 1, quotaOwned: 0, shed: 3, starting: 4,
  fallbackFrames: 11, fallbackPending: 2, fallbackDeferred: 5, stormSpreadMs: 3750,
};
// A small fake: the registry reads only id and metrics() of the node.
const node = { id: 'n1', metrics: () => runtime } as unknown as ActorNode;

describe('metrics registry - observers and sources', () => {
  it('metrics registry - every role\'s series, from observers and from the sources read at scrape time', async () => {
    const m = createNodeMetrics(['gateway', 'storage', 'push', 'socket']);
    m.attach({ node, socket: { stats: () => socketStats }, natsConnected: () => true });
    m.store.served('commit', 0.004, 'ok', 2);
    m.store.served('commit', 0.2, 'rate_limited', 0);
    m.store.served('pull', 0.001, 'ok', 0);
    m.store.served('send', 0.003, 'ok', 0);
    m.push.published(3);
    m.distributor.answered('connect', 'ok');
    m.distributor.answered('connect', 'rate_limited');
    m.distributor.answered('dev_token', 'bad_request');
    m.socket.pushDelivered(0.002);
    m.remoteAsk(0.0015, true);
    m.remoteAsk(5, false);
    m.natsEvent('disconnect');
    m.natsEvent('reconnect');
    const text = await m.registry.metrics();
    const v = (name: string, labels = ''): number | undefined => metricValue(text, name, labels);
    expect(v('syncmesh_up', 'node="n1"')).toBe(1);
    expect(v('syncmesh_nats_connected')).toBe(1);
    expect([v('syncmesh_nats_reconnects_total'), v('syncmesh_nats_disconnects_total')]).toEqual([1, 1]);
    expect(v('syncmesh_runtime_messages_in_total')).toBe(7);
    expect(v('syncmesh_runtime_spawns_refused_total')).toBe(1);
    expect(v('syncmesh_runtime_answered_inactive_total')).toBe(6);
    expect(v('syncmesh_runtime_inbound_backlog')).toBe(12);
    expect([v('syncmesh_socket_shed_total'), v('syncmesh_socket_starting_sessions')]).toEqual([3, 4]);
    expect([v('syncmesh_socket_fallback_frames_total'), v('syncmesh_socket_fallback_pending'), v('syncmesh_socket_fallback_deferred_total')]).toEqual([11, 2, 5]);
    expect(v('syncmesh_socket_storm_spread_ms')).toBe(3750);
    expect(v('syncmesh_runtime_active_actors', 'kind="session"')).toBe(2);
    expect(v('syncmesh_runtime_mailbox_depth', 'kind="store"')).toBe(1);
    expect(v('syncmesh_runtime_remote_ask_seconds_count', 'outcome="ok"')).toBe(1);
    expect(v('syncmesh_runtime_remote_ask_seconds_bucket', 'le="0.0025",outcome="ok"')).toBe(1);
    expect(v('syncmesh_runtime_remote_ask_seconds_count', 'outcome="error"')).toBe(1);
    expect(v('syncmesh_store_commits_total', 'outcome="ok"')).toBe(1);
    expect(v('syncmesh_store_commits_total', 'outcome="rate_limited"')).toBe(1);
    expect(v('syncmesh_store_conflicts_total')).toBe(2);
    expect(v('syncmesh_store_commit_seconds_count')).toBe(2);
    expect(v('syncmesh_store_pull_seconds_count')).toBe(1);
    expect(v('syncmesh_store_commands_total', 'op="send",outcome="ok"')).toBe(1);
    expect(v('syncmesh_store_refusals_total', 'op="commit",code="rate_limited"')).toBe(1);
    expect(v('syncmesh_push_published_total')).toBe(3);
    expect(v('syncmesh_distributor_allocations_total')).toBe(1);
    expect(v('syncmesh_distributor_refusals_total', 'route="connect",code="rate_limited"')).toBe(1);
    expect(v('syncmesh_distributor_refusals_total', 'route="dev_token",code="bad_request"')).toBe(1);
    expect(v('syncmesh_rate_limited_total', 'layer="socket"')).toBe(9);
    expect(v('syncmesh_rate_limited_total', 'layer="store"')).toBe(1);
    expect(v('syncmesh_rate_limited_total', 'layer="distributor"')).toBe(1);
    expect(v('syncmesh_socket_connections')).toBe(2);
    expect(v('syncmesh_socket_sessions')).toBe(2);
    expect(v('syncmesh_socket_draining')).toBe(1);
    expect(v('syncmesh_socket_pushes_delivered_total')).toBe(6);
    expect(v('syncmesh_push_delivery_seconds_count')).toBe(1);
    // A second scrape reads the sources again: counters follow them, not double them.
    expect(metricValue(await m.registry.metrics(), 'syncmesh_rate_limited_total', 'layer="socket"')).toBe(9);
  });

  it('metrics registry - a node shows the metrics of its own roles only', async () => {
    const m = createNodeMetrics(['storage']);
    m.attach({ node, natsConnected: () => false });
    m.distributor.answered('connect', 'ok'); // observers of other roles are harmless
    const text = await m.registry.metrics();
    expect(text).toContain('syncmesh_store_commits_total');
    expect(text).toContain('syncmesh_runtime_remote_ask_seconds');
    for (const other of ['syncmesh_socket_connections', 'syncmesh_push_delivery_seconds', 'syncmesh_push_published_total', 'syncmesh_distributor_allocations_total']) {
      expect(text).not.toContain(other);
    }
    expect(metricValue(text, 'syncmesh_nats_connected')).toBe(0);
  });
});
