/**
 * TARGETS R2 (issue 6): three clustered nats-servers with NATS security and TLS, every role its own
 * process, JetStream replicas 3 taken from the cluster settings (no node is given --replicas). One
 * nats-server is killed with kill -9 while 40 devices commit: the one leading the record stream, the
 * worst case for commits. Then:
 *   - every stream and bucket had 3 replicas (whichever node created it), buckets with Direct Get on;
 *   - every device is live again within 5 s: no device is without a welcomed socket for longer;
 *   - no device is left dropping: once all are back, no socket closes while the load goes on;
 *   - 0 acknowledged commits lost, caches converge, one session per device (faults/scenario.ts).
 */
import { describe, expect, it } from 'vitest';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { secureCluster } from '../kit/secure-cluster.js';
import { until } from '../kit/wait.js';
import { commitSummary, msStats, startScenario, stopAndCheck, waitAll } from './scenario.js';

const LIVE_WITHIN_MS = 5_000;

describe('faults - kill -9 of a nats-server of a secured three-server cluster (R2)', () => {
  it('faults - kill -9 of the data stream leader: every device live again within 5 s, none left dropping, 0 acknowledged commits lost', async () => {
    await using cluster = await secureCluster({ socketNodes: 3 });

    // The client port speaks TLS only, with certificates of the test's own CA, and wants a role's key.
    const refused = (o: Parameters<typeof connect>[0]): Promise<string> =>
      connect({ ...o, reconnect: false, timeout: 5_000 }).then(
        async (nc) => {
          await nc.close();
          return 'connected';
        },
        (e: unknown) => String(e),
      );
    const first = cluster.nats.urls[0]!;
    expect(await refused({ servers: first, tls: { caFile: cluster.pki.caFile } }), 'anonymous over TLS').toMatch(/Authorization/i);
    expect(await refused({ servers: first }), 'a client that does not trust the CA').not.toBe('connected');
    const plain = await refused({ servers: first, tls: null } as Parameters<typeof connect>[0]);
    expect(plain, 'a plain-text client').not.toBe('connected');

    // Replicas belong to the cluster: every stream and bucket has 3, whichever node created it.
    const storage = await cluster.natsAs('storage');
    const socket = await cluster.natsAs('socket');
    const infoAs = async (nc: typeof storage, stream: string) => (await jetstreamManager(nc, { checkAPI: false })).streams.info(stream);
    for (const s of ['sm-records', 'sm-index', 'sm-devcmds', 'KV_sm_leases', 'KV_sm_cluster']) {
      expect((await infoAs(storage, s)).config.num_replicas, `${s} replicas`).toBe(3);
    }
    expect((await infoAs(socket, 'KV_sm_cluster')).config.num_replicas, 'cluster settings replicas, read by a socket node').toBe(3);
    for (const s of ['KV_sm_cluster', 'KV_sm_leases']) expect((await infoAs(storage, s)).config.allow_direct, `${s} allow_direct`).toBe(true);

    await using sc = await startScenario(cluster, 'r2', { roundMs: 200 });
    const { fleet, load } = sc;

    const data = await infoAs(storage, 'sm-records');
    const leaderName = data.cluster?.leader;
    const names = await Promise.all(cluster.nats.servers.map(async (s) => ((await (await fetch(`${s.monitorUrl}/varz`)).json()) as { server_name: string }).server_name));
    const victim = names.indexOf(leaderName ?? '');
    expect(victim, `the data stream leader ${leaderName} is one of ${names.join(', ')}`).toBeGreaterThanOrEqual(0);
    const leaseLeader = (await infoAs(storage, 'KV_sm_leases')).cluster?.leader;

    const socketsBefore = new Map(fleet.devices.map((d) => [d, d.sockets.length]));
    const killedAt = Date.now();
    await cluster.nats.servers[victim]!.kill9();

    // Each device: the longest time it was without a welcomed, open socket after the kill.
    const gaps = new Map(fleet.devices.map((d) => [d, 0]));
    const firstAck = new Map<(typeof fleet.devices)[number], number>();
    const isLive = (d: (typeof fleet.devices)[number]): boolean => {
      const s = d.sockets.at(-1);
      return s !== undefined && s.welcomedAt !== undefined && s.closedAt === undefined;
    };
    const downSince = new Map<(typeof fleet.devices)[number], number>();
    await until(
      () => {
        const now = Date.now();
        for (const d of fleet.devices) {
          if (isLive(d)) {
            const since = downSince.get(d);
            if (since !== undefined) gaps.set(d, Math.max(gaps.get(d)!, now - since));
            downSince.delete(d);
          } else if (!downSince.has(d)) {
            const closed = d.sockets.at(-1)?.closedAt;
            downSince.set(d, closed !== undefined && closed >= killedAt ? closed : now);
          }
          if (!firstAck.has(d) && load.ackedSince(d, killedAt) >= 1) firstAck.set(d, now - killedAt);
        }
        return firstAck.size === fleet.devices.length && downSince.size === 0;
      },
      'every device live and with a commit acknowledged after the kill',
      30_000,
      () => `${fleet.devices.length - firstAck.size} without an ack, ${downSince.size} not live`,
    );
    const recoveredAt = Date.now();
    const dropped = fleet.devices.filter((d) => d.sockets.slice(socketsBefore.get(d)!).some((s) => s.closedAt !== undefined) || d.sockets.length > socketsBefore.get(d)!);
    const worstGap = Math.max(...gaps.values());
    expect(worstGap, `longest time a device was not live after the kill (${dropped.length} devices dropped)`).toBeLessThanOrEqual(LIVE_WITHIN_MS);

    // Nobody keeps dropping: the load goes on for a while and no socket closes.
    await until(() => Date.now() - recoveredAt > 4_000 && fleet.devices.every((d) => load.ackedSince(d, recoveredAt) >= 2), 'four more seconds of load with every device committing', 30_000);
    await waitAll(fleet.devices, 'every device connected', (d) => d.client.status === 'connected');
    const closesAfter = fleet.devices.flatMap((d) => d.sockets.filter((s) => s.closedAt !== undefined && s.closedAt > recoveredAt).map((s) => `${d.deviceId}@${s.node}: ${s.closeCode}`));
    expect(closesAfter, 'sockets closed after every device was back').toEqual([]);

    await stopAndCheck(sc);
    const acks = [...firstAck.values()];
    console.info(
      `R2: killed ${leaderName} (data stream leader; lease bucket leader ${leaseLeader}); ${dropped.length}/${fleet.devices.length} devices dropped, ` +
        `longest time not live ${worstGap} ms (target <= ${LIVE_WITHIN_MS}); first commit acknowledged after the kill per device ${msStats(acks)}; ` +
        `${commitSummary(load)}`,
    );
  }, 180_000);
});
