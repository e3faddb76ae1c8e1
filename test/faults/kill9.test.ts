/**
 * TARGETS R1: kill -9 of one socket node while clients commit, on the real local cluster (every role in
 * its own process, compiled from dist/). The launcher restarts the dead node after a backoff (under the
 * same node id, on a new port): a device may come back to that new process, never to the dead one.
 */
import { describe, expect, it } from 'vitest';
import { localCluster } from '../kit/cluster.js';
import { healthzUrl, type FleetDevice } from '../kit/fleet.js';
import { socketHealth } from '../kit/server-view.js';
import { DEADLINE_MS, busiestSocketNode, commitSummary, msStats, startScenario, stopAndCheck, waitAll } from './scenario.js';

describe('faults - kill -9 of a socket node (R1)', () => {
  it('faults - kill -9 of the busiest socket node: its devices reconnect to a live node, 0 acknowledged commits lost, caches converge, one session per device', async () => {
    await using cluster = await localCluster({ socketNodes: 3, timeoutMs: 90_000 });
    await using sc = await startScenario(cluster, 'r1', { roundMs: 200 });
    const { fleet, load } = sc;

    const victim = await busiestSocketNode(sc);
    const moved = fleet.devices.filter((d) => d.client.node === victim.node);
    expect(moved.length).toBe(victim.connections);
    const socketsBefore = new Map(moved.map((d) => [d, d.sockets.length]));
    const killedAt = Date.now();
    process.kill(victim.pid, 'SIGKILL');

    // Each device of the dead node: its socket dropped, a new one was welcomed (by a live process).
    const back = (d: FleetDevice): boolean => d.client.status === 'connected' && d.sockets.length > socketsBefore.get(d)! && d.sockets.at(-1)!.welcomedAt !== undefined;
    await waitAll(moved, `the ${moved.length} devices of the killed node to reconnect`, back, DEADLINE_MS);
    const reconnectMs = moved.map((d) => d.sockets.at(-1)!.welcomedAt! - killedAt);
    const failedAttempts = moved.map((d) => d.sockets.length - socketsBefore.get(d)! - 1);
    for (const d of moved) {
      const h = await socketHealth(healthzUrl(d.sockets.at(-1)!.url));
      expect(h?.status, `${d.deviceId} is on a node that answers`).toBe('ok');
      expect(d.sockets.at(-1)!.url, `${d.deviceId} is not on the dead process`).not.toBe(d.sockets[socketsBefore.get(d)! - 1]!.url);
    }
    // Everyone keeps committing on the new layout before the load stops.
    const recovered = Date.now();
    await waitAll(fleet.devices, 'every device to have 2 commits acknowledged after the recovery', (d) => load.ackedSince(d, recovered) >= 2);

    await stopAndCheck(sc);
    const restartedOnVictim = moved.filter((d) => d.client.node === victim.node).length;
    console.info(
      `R1: killed ${victim.node} holding ${moved.length}/${fleet.devices.length} devices; reconnect after kill ${msStats(reconnectMs)}, ` +
        `failed socket attempts per device max ${Math.max(...failedAttempts)}; ` +
        `${restartedOnVictim} came back to the restarted ${victim.node}; ${commitSummary(load)}; ` +
        `max sampled connections ${sc.sessions.max.total} over ${sc.sessions.samples} samples`,
    );
  }, 180_000); // a local cluster of six processes under load, on a shared two-core machine
});
