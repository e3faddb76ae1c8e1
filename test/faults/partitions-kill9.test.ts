/**
 * Storage partitions under a server failure: a secured three-server cluster (NATS security and TLS,
 * replicas 3 from the cluster settings) whose every node runs with --store-partitions 3, so the
 * storage is nine streams, each its own Raft group. While 40 devices commit, the nats-server leading
 * the most of the partitions' index streams is killed with kill -9. Every partition elects a new
 * leader, every device commits again, and no acknowledged commit is lost (faults/scenario.ts), as with
 * one partition (nats-kill9.test.ts).
 */
import { describe, expect, it } from 'vitest';
import { jetstreamManager } from '@nats-io/jetstream';
import { storeLayouts } from '../../actors/store/mod.js';
import { secureCluster } from '../kit/secure-cluster.js';
import { commitSummary, startScenario, stopAndCheck, waitAll } from './scenario.js';

describe('faults - kill -9 of a nats-server with partitioned storage', () => {
  it('faults - three partitions, replicas 3: the server leading the most index streams dies; every device commits again, 0 acknowledged commits lost', async () => {
    await using cluster = await secureCluster({ socketNodes: 2, storePartitions: 3 });
    const storage = await cluster.natsAs('storage');
    const jsm = await jetstreamManager(storage, { checkAPI: false });
    const layouts = storeLayouts('sm', 3);
    // The unpartitioned streams do not exist; every partition's do, with three replicas each.
    await expect(jsm.streams.info('sm-index')).rejects.toThrow(/not found/i);
    const leaders: string[] = [];
    for (const l of layouts) {
      for (const name of [l.recordStream, l.indexStream, l.commandStream]) expect((await jsm.streams.info(name)).config.num_replicas, name).toBe(3);
      leaders.push((await jsm.streams.info(l.indexStream)).cluster?.leader ?? '');
    }

    await using sc = await startScenario(cluster, 'partitions', { roundMs: 200 });
    const { fleet, load } = sc;
    const names = await Promise.all(cluster.nats.servers.map(async (s) => ((await (await fetch(`${s.monitorUrl}/varz`)).json()) as { server_name: string }).server_name));
    const led = names.map((n) => leaders.filter((l) => l === n).length);
    const victim = led.indexOf(Math.max(...led));
    expect(led[victim], `index stream leaders ${leaders.join(', ')} among ${names.join(', ')}`).toBeGreaterThan(0);

    const killedAt = Date.now();
    await cluster.nats.servers[victim]!.kill9();
    await waitAll(fleet.devices, 'every device with a commit acknowledged after the kill', (d) => load.ackedSince(d, killedAt) >= 1, 30_000);
    await waitAll(fleet.devices, 'every device connected', (d) => d.client.status === 'connected');
    // Each index stream has a leader again, none of them the dead server.
    for (const l of layouts) {
      const leader = (await jsm.streams.info(l.indexStream)).cluster?.leader;
      expect(leader, `${l.indexStream} leader`).toBeTruthy();
      expect(leader).not.toBe(names[victim]);
    }
    await stopAndCheck(sc);
    console.info(`partitions: killed ${names[victim]} (leading ${led[victim]} of 3 index streams); ${commitSummary(load)}`);
  }, 180_000);
});
