/**
 * Storage partitions (actors/store/layout.ts): with P > 1 each user's records, indexes and commands live
 * in the three streams of one partition, chosen from the user key; with P = 1 the names are those of
 * the unpartitioned storage. Against a real nats-server: every user's data is in its partition's
 * streams and in no other, a second store opening the same partitions reads it back, and the byte
 * limits are shared.
 */
import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { describe, expect, it } from 'vitest';
import { connectionId } from '../../protocol/cluster/mod.js';
import { createCloudStore, DEFAULT_STORE_LIMITS, MAX_STORE_PARTITIONS, StoreSetupError, storeLayout, storeLayouts, storePartition } from '../../actors/store/mod.js';
import { connect } from '@nats-io/transport-node';
import { natsCluster, natsSetup } from '../kit/nats.js';
import { pullPages, storeEnv } from './kit.js';

/** The subjects a stream holds messages on now. */
async function subjectsOf(jsm: JetStreamManager, stream: string): Promise<string[]> {
  const info = await jsm.streams.info(stream, { subjects_filter: '>' });
  return Object.keys(info.state.subjects ?? {});
}

describe('store - partitions', () => {
  it('store - one partition keeps the unpartitioned names; several get a stream set and a subject root each', () => {
    const one = storeLayout('sm');
    expect([one.recordStream, one.indexStream, one.commandStream, one.dataStream]).toEqual(['sm-records', 'sm-index', 'sm-devcmds', 'sm-index']);
    expect([one.recordSubjects, one.indexSubjects, one.commandSubjects]).toEqual(['sm.rec.>', 'sm.idx.>', 'sm.dcmd.>']);
    expect(one.userIndex('u')).toMatch(/^sm\.idx\.usr\.[0-9a-f]{32}$/);
    expect(storeLayouts('sm', 1)).toHaveLength(1);

    const four = storeLayouts('sm', 4);
    expect(four.map((l) => l.indexStream)).toEqual(['sm-index-0', 'sm-index-1', 'sm-index-2', 'sm-index-3']);
    expect(four[2]!.recordSubjects).toBe('sm.rec-2.>');
    expect(four[3]!.commandSubjects).toBe('sm.dcmd-3.>');
    // The other tokens stay where they were: the key is still the fifth token of a record subject.
    const subject = four[1]!.recordVersion('u', 'notes', 'k1', 'v1');
    expect(subject).toMatch(/^sm\.rec-1\.[0-9a-f]{32}\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.v1$/);
    expect(four[1]!.keyOf(subject)).toBe('k1');
    expect(four[0]!.legacyStreams).toEqual(['sm-data', 'sm-commands', 'sm-delivered']);
    expect(four[1]!.legacyStreams).toEqual([]);
    // No two streams of the storage capture the same subjects.
    const roots = four.flatMap((l) => [l.recordSubjects, l.indexSubjects, l.commandSubjects]);
    expect(new Set(roots).size).toBe(12);
  });

  it('store - an unpartitioned storage refuses to be opened with partitions', async () => {
    await using env = await storeEnv();
    await env.store.commit({ userId: 'u1', collection: 'c', changes: [{ key: 'k', value: 1 }] });
    await expect(createCloudStore({ nc: env.nc, partitions: 2 })).rejects.toThrow(/stream sm-index holds \d+ messages of an unpartitioned storage \(--store-partitions 1\), but this cluster's settings say 2 partitions/);
  });

  it('store - storage nodes starting together on a new cluster create the partitions without refusing each other', async () => {
    await using env = await natsSetup();
    const stores = await Promise.all(Array.from({ length: 3 }, () => createCloudStore({ nc: env.nc, partitions: 4 })));
    try {
      await stores[0]!.commit({ userId: 'together', collection: 'c', changes: [{ key: 'k', value: 1 }] });
      expect((await stores[2]!.pull({ userId: 'together', collection: 'c', since: 0 })).changes.map((c) => c.value)).toEqual([1]);
    } finally {
      for (const s of stores) await s.close();
    }
  });

  it("store - on a three-server cluster with three replicas the partitions' stream leaders are spread over the servers, and a store on another server reads every user", async () => {
    await using cl = await natsCluster(3);
    const a = await connect({ servers: cl.urls[0]! });
    const b = await connect({ servers: cl.urls[2]! });
    try {
      const writer = await createCloudStore({ nc: a, partitions: 3, replicas: 3 });
      const users = Array.from({ length: 12 }, (_, i) => `r3-user-${i}`);
      for (const userId of users) await writer.commit({ userId, collection: 'c', changes: [{ key: 'k', value: userId }] });
      await writer.close();
      const jsm = await jetstreamManager(a);
      const leaders = new Set<string>();
      for (const l of storeLayouts('sm', 3)) {
        for (const name of [l.recordStream, l.indexStream, l.commandStream]) {
          const info = await jsm.streams.info(name);
          expect(info.config.num_replicas).toBe(3);
          leaders.add(info.cluster?.leader ?? '');
        }
      }
      // Nine groups, each electing its own leader: one server leading all nine would be a placement bug
      // (R1 streams, by contrast, go to the server the creating request came through: docs/deployment.md).
      expect(leaders.size).toBeGreaterThan(1);
      const reader = await createCloudStore({ nc: b, partitions: 3, replicas: 3 });
      try {
        for (const userId of users) expect((await reader.pull({ userId, collection: 'c', since: 0 })).changes.map((c) => c.value)).toEqual([userId]);
      } finally {
        await reader.close();
      }
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('store - a user belongs to one partition, the same every time, and users spread evenly', () => {
    const counts = [0, 0, 0, 0];
    for (let i = 0; i < 4000; i++) {
      const p = storePartition(`user-${i}`, 4);
      expect(storePartition(`user-${i}`, 4)).toBe(p);
      counts[p]!++;
    }
    for (const c of counts) expect(c).toBeGreaterThan(850);
    expect(storePartition('anyone', 1)).toBe(0);
    expect(() => storeLayouts('sm', 0)).toThrow(/whole number from 1 to 64, got 0/);
    expect(() => storeLayouts('sm', MAX_STORE_PARTITIONS + 1)).toThrow(/from 1 to 64/);
    expect(() => storeLayouts('sm', 2.5)).toThrow(/whole number/);
    expect(() => storeLayout('sm', 4, 4)).toThrow(/partition 4 does not exist among 4/);
  });

  it("store - with four partitions every user's records, indexes and commands are in its partition's streams only; another store reads them back", async () => {
    await using env = await storeEnv({ partitions: 4, limits: { inlineCollectionBytes: 1 } });
    const { store, nc } = env;
    expect(store.partitions).toBe(4);
    const users = Array.from({ length: 24 }, (_, i) => `part-user-${i}`);
    for (const userId of users) {
      const r = await store.commit({ userId, collection: 'notes', changes: [{ key: 'a', value: `${userId}:a` }, { key: 'b', value: { n: 1 } }] });
      expect(r.conflicts).toEqual([]);
      await store.pending({ userId, deviceId: 'phone' });
      await store.send({ userId, fromDevice: 'laptop', fromConnectionId: connectionId(userId, 'laptop'), toDevice: 'phone', body: `for ${userId}` });
    }
    const jsm = await jetstreamManager(nc);
    const layouts = storeLayouts('sm', 4);
    // The unpartitioned streams were not created.
    await expect(jsm.streams.info('sm-index')).rejects.toThrow(/stream not found/i);
    const used = new Set<number>();
    for (const userId of users) {
      const p = storePartition(userId, 4);
      used.add(p);
      const own = layouts[p]!;
      expect(await subjectsOf(jsm, own.indexStream)).toContain(own.userIndex(userId));
      expect(await subjectsOf(jsm, own.indexStream)).toContain(own.collectionIndex(userId, 'notes'));
      expect((await subjectsOf(jsm, own.recordStream)).some((s) => s.startsWith(`${own.record(userId, 'notes', 'a')}.`))).toBe(true);
      expect((await subjectsOf(jsm, own.commandStream)).some((s) => s.startsWith(own.command(userId, 'phone', '')))).toBe(true);
      for (const other of layouts.filter((l) => l.partition !== p)) {
        expect(await subjectsOf(jsm, other.indexStream)).not.toContain(other.userIndex(userId));
      }
    }
    // 24 users over 4 partitions: more than one is in use (else the test proves nothing).
    expect(used.size).toBeGreaterThan(1);
    // The byte limits are totals: each partition's stream has a quarter.
    for (const l of layouts) {
      expect((await jsm.streams.info(l.recordStream)).config.max_bytes).toBe(Math.ceil(DEFAULT_STORE_LIMITS.recordStreamBytes / 4));
      expect((await jsm.streams.info(l.indexStream)).config.max_bytes).toBe(Math.ceil(DEFAULT_STORE_LIMITS.indexStreamBytes / 4));
    }

    // Another store over the same partitions (another storage node, or this one after a restart) reads it all.
    const again = await createCloudStore({ nc, partitions: 4, limits: { inlineCollectionBytes: 1 } });
    try {
      for (const userId of users) {
        const records = await pullPages(again, userId, 'notes');
        expect(records.map((r) => [r.key, r.value])).toEqual([
          ['a', `${userId}:a`],
          ['b', { n: 1 }],
        ]);
        const waiting = await again.pending({ userId, deviceId: 'phone' });
        expect(waiting.commands.map((c) => c.body)).toEqual([`for ${userId}`]);
        expect(await again.ack({ userId, deviceId: 'phone', commandId: waiting.commands[0]!.commandId })).toEqual({ acked: true, fromConnectionId: connectionId(userId, 'laptop') });
      }
    } finally {
      await again.close();
    }
    // Started with another count beside this data (say, its settings were lost): refused, naming the stream.
    await expect(createCloudStore({ nc, partitions: 1 })).rejects.toThrow(/stream sm-index-0 holds \d+ messages of a partitioned storage.*settings say 1 partitions/);
    await expect(createCloudStore({ nc, partitions: 3 })).rejects.toThrow(/stream sm-index-3 holds \d+ messages of a storage of more than 3 partitions/);
    await expect(createCloudStore({ nc, partitions: 8 })).rejects.toThrow(/4 of the 8 index streams sm-index-<p> exist: the storage was created with 4 partitions/);
    await expect(jsm.streams.info('sm-index')).rejects.toThrow(/stream not found/i);
    await expect(jsm.streams.info('sm-index-4')).rejects.toThrow(/stream not found/i);
    // A count out of range is refused before anything is created.
    await expect(createCloudStore({ nc, partitions: 0 })).rejects.toThrow(StoreSetupError);
    await expect(createCloudStore({ nc, partitions: 65 })).rejects.toThrow(/from 1 to 64/);
  });
});
