/**
 * The reconnect spread of fallback offers, end to end (docs/protocol.md 3.1 `spreadMs`): a local cluster
 * (`syncmesh cluster --storm-rate 1`) whose socket nodes take 1 connection a second per survivor, so a node holding n
 * connections asks its clients to spread over n seconds. The node holding most of six clients is killed
 * with SIGKILL; each of its clients (the bundled client over real WebSockets) waits up to the spread its
 * last offer carried, then reconnects on the survivor with that offer's ticket.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import WebSocket from 'ws';
import { createSyncClient } from '../../client/client.js';
import type { StatusEvent, SyncClient } from '../../client/types.js';
import { localCluster } from '../kit/cluster.js';
import { devToken } from '../kit/device.js';
import { until, waitFor } from '../kit/wait.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  vi.restoreAllMocks();
  while (cleanups.length > 0) await cleanups.pop()!();
});

/** A metric's value from a node's /metrics (its samples carry the node's label). */
async function gauge(metricsUrl: string, name: string): Promise<number | undefined> {
  const text = await (await fetch(metricsUrl)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
}

describe('e2e - reconnect spread sized by the node', { timeout: 120_000 }, () => {
  it("e2e - kill -9: each client of the dead node waits up to its offer's spread (its node's connections over the survivor's storm rate), then comes back on the survivor", async () => {
    await using cluster = await localCluster({ socketNodes: 2, timeoutMs: 90_000, extraArgs: ['--storm-rate', '1'] });
    const clients: { client: SyncClient; status: StatusEvent[]; posts: number }[] = [];
    for (const userId of ['spread-a', 'spread-b', 'spread-c']) {
      for (const deviceId of ['laptop', 'phone']) {
        const entry = { client: undefined as unknown as SyncClient, status: [] as StatusEvent[], posts: 0 };
        entry.client = createSyncClient({
          distributorUrl: cluster.url,
          userId,
          deviceId,
          getToken: () => devToken(cluster.url, userId),
          fetch: (input, init) => {
            if (String(input).endsWith('/v1/connect')) entry.posts++;
            return fetch(input, init);
          },
          WebSocket,
          // Every connection counts as stable: an abnormal drop takes the quick first retry.
          stableAfterMs: 0,
        });
        entry.client.on('status', (e) => entry.status.push(e));
        cleanups.push(() => entry.client.close());
        clients.push(entry);
      }
    }
    await Promise.all(clients.map((c) => c.client.whenConnected(30_000)));

    // The node holding most of the six (at least three): its spread is n seconds with one survivor.
    const byNode = new Map<string, typeof clients>();
    for (const c of clients) byNode.set(c.client.node!, [...(byNode.get(c.client.node!) ?? []), c]);
    const [victimNode, victims] = [...byNode].sort((a, b) => b[1].length - a[1].length)[0]!;
    const n = victims.length;
    expect(n).toBeGreaterThanOrEqual(3);
    const victim = cluster.state.processes.find((p) => p.node === victimNode);
    expect(victim?.metrics, `the metrics address of ${victimNode}`).toBeDefined();
    // Its offers are sent (renewals when the spread doubled included) and sized for its n connections.
    await waitFor('the victim to size its spread and send every renewal', async () => {
      const [spread, pending] = await Promise.all([gauge(victim!.metrics!, 'syncmesh_socket_storm_spread_ms'), gauge(victim!.metrics!, 'syncmesh_socket_fallback_pending')]);
      if (spread !== n * 1000 || pending !== 0) throw new Error(`spread ${spread} ms, ${pending} offers pending, ${n} connections`);
      return true;
    });

    // Every draw at its top: each client waits the whole spread its last offer carried.
    vi.spyOn(Math, 'random').mockReturnValue(0.9999);
    const before = victims.map((v) => v.status.length);
    const posts = victims.map((v) => v.posts);
    process.kill(victim!.pid, 'SIGKILL');
    await until(() => victims.every((v, i) => v.status.slice(before[i]).some((s) => s.retryInMs !== undefined)), 'every client of the dead node to schedule its retry');
    vi.restoreAllMocks();
    const waits = victims.map((v, i) => v.status.slice(before[i]).find((s) => s.retryInMs !== undefined)!.retryInMs!);
    // Offers are renewed when the spread doubles, so each holds at least half the current n seconds,
    // longer than the client's own second in any case (n >= 3).
    for (const w of waits) {
      expect(w).toBeGreaterThanOrEqual((n * 1000) / 2);
      expect(w).toBeLessThanOrEqual(n * 1000);
    }
    expect(Math.max(...waits)).toBe(n * 1000);

    await Promise.all(victims.map((v) => v.client.whenConnected(30_000)));
    for (const [i, v] of victims.entries()) {
      expect(v.client.node).not.toBe(victimNode);
      // Straight to the survivor with the offer's ticket: no POST /v1/connect.
      expect(v.posts - posts[i]!).toBe(0);
    }
  });
});
