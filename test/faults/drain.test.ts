/**
 * TARGETS R7: SIGTERM to a socket node under load, on the real local cluster. The node drains: it tells
 * each client `{t:"drain", retryAfterMs}` at moments spread over the launcher's --drain-spread-ms (1 s),
 * the clients reconnect through the distributor (which no longer picks the draining node), and the node
 * leaves. Meanwhile devices keep committing and keep sending each other commands.
 */
import { describe, expect, it } from 'vitest';
import { localCluster } from '../kit/cluster.js';
import { socketTimeline, type FleetDevice } from '../kit/fleet.js';
import { checkCommands, type CommandCheck } from '../kit/ledger-checks.js';
import { until } from '../kit/wait.js';
import { DEADLINE_MS, busiestSocketNode, commitSummary, msStats, startScenario, stopAndCheck, waitAll } from './scenario.js';

/** `--drain-spread-ms` that gateway/cli/cluster.ts gives its socket nodes. */
const DRAIN_SPREAD_MS = 1_000;
const BUCKET_MS = 100;

describe('faults - SIGTERM to a socket node (R7)', () => {
  it('faults - SIGTERM drains a socket node: clients told to move at spread-out moments, reconnect elsewhere, 0 lost commits or commands', async () => {
    await using cluster = await localCluster({ socketNodes: 3, timeoutMs: 90_000 });
    await using sc = await startScenario(cluster, 'r7', { roundMs: 200, commands: true });
    const { fleet, load } = sc;

    const victim = await busiestSocketNode(sc);
    const moved = fleet.devices.filter((d) => d.client.node === victim.node);
    expect(moved.length).toBe(victim.connections);
    const drained = new Map(moved.map((d) => [d, d.sockets.at(-1)!]));
    const termAt = Date.now();
    process.kill(victim.pid, 'SIGTERM');

    // Each device of the draining node got `drain` on its socket, then a new socket was welcomed.
    const moveDone = (d: FleetDevice): boolean => d.client.status === 'connected' && d.sockets.at(-1) !== drained.get(d) && d.sockets.at(-1)!.welcomedAt !== undefined;
    await waitAll(moved, `the ${moved.length} devices of the draining node to reconnect`, moveDone, DEADLINE_MS);
    const untold = moved.filter((d) => drained.get(d)!.drain === undefined).map((d) => `${d.userId}/${d.deviceId}: ${socketTimeline(d.sockets, termAt)}`);
    expect(untold, 'every device of the draining node got a drain frame (sockets: ms from SIGTERM)').toEqual([]);
    for (const d of moved) {
      const first = d.sockets.slice(d.sockets.indexOf(drained.get(d)!) + 1).find((s) => s.welcomedAt !== undefined)!;
      expect(first.node, `${d.userId}/${d.deviceId} moved off the draining node`).not.toBe(victim.node);
      expect(drained.get(d)!.closeCode, 'the drained socket closed normally (by the client after retryAfterMs, or 4000 by the server)').toSatisfy((c: number) => c === 1000 || c === 4000);
    }

    // Spread: when each device was told to come back (drain frame + retryAfterMs), relative to the first.
    const planned = moved.map((d) => drained.get(d)!.drain!.at + drained.get(d)!.drain!.retryAfterMs).sort((a, b) => a - b);
    const rel = planned.map((t) => t - planned[0]!);
    const buckets = new Map<number, number>();
    for (const t of rel) buckets.set(Math.floor(t / BUCKET_MS), (buckets.get(Math.floor(t / BUCKET_MS)) ?? 0) + 1);
    const crowd = Math.max(...buckets.values());
    const spreadInfo = `planned reconnects (ms after the first): ${rel.join(', ')}`;
    expect(rel.at(-1)!, `spread over at least half of ${DRAIN_SPREAD_MS} ms; ${spreadInfo}`).toBeGreaterThanOrEqual(DRAIN_SPREAD_MS / 2);
    expect(crowd, `at most half the devices in one ${BUCKET_MS} ms window; ${spreadInfo}`).toBeLessThanOrEqual(Math.ceil(moved.length / 2));
    const reconnectMs = moved.map((d) => d.sockets.at(-1)!.welcomedAt! - termAt);
    const retryAfter = moved.map((d) => drained.get(d)!.drain!.retryAfterMs);

    const recovered = Date.now();
    await waitAll(fleet.devices, 'every device to have 2 commits acknowledged after the move', (d) => load.ackedSince(d, recovered) >= 2);
    await stopAndCheck(sc);

    // Commands: every acknowledged send is received (once) and reported delivered to its sender, also
    // senders that were moving between nodes when the target acked (the notice waits for their next welcome).
    const commands = (): CommandCheck => checkCommands(load, fleet.devices);
    await until(() => commands().problems.length === 0, 'every sent command received and delivered', DEADLINE_MS, () => commands().problems.slice(0, 10).join('; '));
    const movedSenders = new Set(moved.map((d) => `${d.userId}/${d.deviceId}`));
    const deliveredToMoved = load.sends.filter((s) => s.outcome === 'acked' && movedSenders.has(`${s.userId}/${s.from}`)).length;
    const sent = load.sends.filter((s) => s.outcome === 'acked').length;
    const unknownSends = load.sends.filter((s) => s.outcome === 'unknown').length;
    const redelivered = fleet.devices.reduce((n, d) => n + [...d.commandFrames.values()].filter((k) => k > 1).length, 0);
    console.info(
      `R7: SIGTERM to ${victim.node} holding ${moved.length}/${fleet.devices.length} devices; retryAfterMs ${msStats(retryAfter)}; ` +
        `planned reconnects spread over ${rel.at(-1)} ms, at most ${crowd} in one ${BUCKET_MS} ms window; reconnected after SIGTERM ${msStats(reconnectMs)}; ` +
        `${commitSummary(load)}; ${sent} commands sent and received, ${unknownSends} unknown, ${redelivered} delivered twice on the wire, ` +
        `all 'delivered' heard, ${deliveredToMoved} of them by senders that were on the drained node (whole run); ` +
        `max sampled connections ${sc.sessions.max.total}`,
    );
  }, 180_000); // a local cluster of seven processes under load, on a shared two-core machine
});
