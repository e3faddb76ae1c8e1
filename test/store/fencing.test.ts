/**
 * Fenced, atomic and idempotent commits, with two CloudStores on one nats-server standing in for two
 * storage nodes that both believe they serve a user (the process-level version: r8-stall.test.ts).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { createCloudStore, StaleWriteError, storeLayout, type CloudStore } from '../../actors/store/mod.js';
import type { Record_ } from '../../actors/messages.js';
import { encode } from '../../protocol/mod.js';
import { eventually, storeEnv, type StoreEnv } from './kit.js';

let env: StoreEnv;
let other: CloudStore;
let otherNc: NatsConnection;
let n = 0;
const user = (name: string): string => `${name}-${++n}`;
const layout = storeLayout('sm');

beforeAll(async () => {
  // Every value in the record stream (nothing inline): these tests follow record versions; r8-stall.test.ts runs the default.
  env = await storeEnv({ limits: { txidWindow: 3, inlineCollectionBytes: 1 } });
  otherNc = await connect({ servers: env.ns.url });
  other = await createCloudStore({ nc: otherNc, limits: { txidWindow: 3, inlineCollectionBytes: 1 } });
});

afterAll(async () => {
  await other?.close();
  await otherNc?.close();
  await env?.[Symbol.asyncDispose]();
});

const byKey = (records: Record_[]): Record<string, Record_> => Object.fromEntries(records.map((r) => [r.key, r]));

/** Every stored version of a key (each on a subject of its own under `root`), straight from JetStream. */
async function versions(root: string): Promise<number> {
  const jsm = await jetstreamManager(env.nc);
  const info = await jsm.streams.info(layout.recordStream, { subjects_filter: `${root}.>` });
  return Object.values(info.state.subjects ?? {}).reduce((sum, n) => sum + n, 0);
}

describe('store - fenced writes', () => {
  it('store - a store holding an older index loses its commit: nothing of it is visible, and its next commit starts from what is stored', async () => {
    const u = user('fenced');
    const a = env.store;
    await a.commit({ userId: u, collection: 'c', changes: [{ key: 'k', value: 'from a' }, { key: 'only-a', value: 1 }] });
    // The user's store moves to the other node, which commits.
    const fresh = await other.commit({ userId: u, collection: 'c', changes: [{ key: 'k', value: 'from b' }] });
    // The first node, unaware, commits from its cached index: refused by the fence.
    const stale = await a.commit({ userId: u, collection: 'c', changes: [{ key: 'k', value: 'stale' }, { key: 'new', value: 'stale' }] }).catch((e: unknown) => e);
    expect(stale).toBeInstanceOf(StaleWriteError);
    expect((stale as StaleWriteError).code).toBe('internal');
    expect((stale as Error).message).toMatch(/another storage node/);

    const seen = byKey((await other.pull({ userId: u, collection: 'c', since: 0 })).changes);
    expect(seen['k']).toMatchObject({ value: 'from b', rev: fresh.rev });
    expect(seen['new']).toBeUndefined();
    expect(seen['only-a']).toMatchObject({ value: 1 });
    // The losing versions are deleted: one version per key is left.
    await eventually('the stale versions deleted', async () => ((await versions(layout.record(u, 'c', 'new'))) === 0 && (await versions(layout.record(u, 'c', 'k'))) === 1 ? true : undefined));

    // Its cache was dropped: the next commit reads the stored index, applies, and revisions keep growing.
    const next = await a.commit({ userId: u, collection: 'c', changes: [{ key: 'k', value: 'a again', base: fresh.rev }] });
    expect(next.conflicts).toEqual([]);
    expect(next.rev).toBeGreaterThan(fresh.rev);
  });

  it('store - record versions whose index write never happened (a crash in between) are invisible', async () => {
    const u = user('crash');
    const done = await env.store.commit({ userId: u, collection: 'c', changes: [{ key: 'k', value: 'committed' }] });
    // What a writer that died after writing the record and before the index leaves behind.
    const js = jetstream(env.nc);
    await js.publish(layout.recordVersion(u, 'c', 'k', 'orphan1'), encode('never committed'));
    await js.publish(layout.recordVersion(u, 'c', 'ghost', 'orphan2'), encode('never committed'));
    // ... and what a writer of the first layout (no version token) left: read the same way.
    await js.publish(layout.record(u, 'c', 'legacy'), encode('never committed'));
    for (const s of [env.store, other]) {
      s.forget(u);
      const pulled = await s.pull({ userId: u, collection: 'c', since: 0 });
      expect(pulled.changes).toEqual([{ key: 'k', rev: done.rev, value: 'committed' }]);
    }
    // A base naming the committed revision still applies: the orphan is not the key's state.
    const r = await env.store.commit({ userId: u, collection: 'c', changes: [{ key: 'k', value: 'next', base: done.rev }] });
    expect(r.conflicts).toEqual([]);
  });

  it('store - a commit is atomic: its changes become visible together', async () => {
    const u = user('atomic');
    const keys = Array.from({ length: 20 }, (_, i) => `k${i}`);
    await env.store.commit({ userId: u, collection: 'c', changes: keys.map((key) => ({ key, value: 0 })) });
    let stop = false;
    const torn: string[] = [];
    const reader = (async () => {
      while (!stop) {
        const values = new Set((await env.store.pull({ userId: u, collection: 'c', since: 0 })).changes.map((c) => c.value));
        if (values.size !== 1) torn.push([...values].join(','));
      }
    })();
    for (let i = 1; i <= 30; i++) await env.store.commit({ userId: u, collection: 'c', changes: keys.map((key) => ({ key, value: i })) });
    stop = true;
    await reader;
    expect(torn).toEqual([]);
  });
});

describe('store - idempotent commits (txid)', () => {
  it('store - a commit resent with its txid answers the first result and applies nothing', async () => {
    const u = user('txid');
    const first = await env.store.commit({ userId: u, collection: 'c', txid: 't-1', changes: [{ key: 'a', value: 1 }, { key: 'b', value: 1 }] });
    const again = await env.store.commit({ userId: u, collection: 'c', txid: 't-1', changes: [{ key: 'a', value: 1 }, { key: 'b', value: 1 }] });
    // The answer is the first one's; only the first carries its records for the sync (nothing was written again).
    const answer = { rev: first.rev, conflicts: first.conflicts, devices: [] };
    expect(first.written?.changes.map((c) => c.key)).toEqual(['a', 'b']);
    expect(again).toEqual(answer);
    // Also on another node (the txids live in the stored index, not in memory).
    expect(await other.commit({ userId: u, collection: 'c', txid: 't-1', changes: [{ key: 'a', value: 1 }] })).toEqual(answer);
    const pulled = await env.store.pull({ userId: u, collection: 'c', since: 0 });
    expect(pulled.rev).toBe(first.rev);

    // A replayed commit that had conflicts answers them with the keys' current state.
    other.forget(u);
    env.store.forget(u);
    const c = await env.store.commit({ userId: u, collection: 'c', txid: 't-2', changes: [{ key: 'a', value: 2, base: pulled.rev + 100 }, { key: 'z', value: 'z' }] });
    expect(c.conflicts).toEqual([{ key: 'a', rev: pulled.changes[0]!.rev, value: 1 }]);
    expect(await env.store.commit({ userId: u, collection: 'c', txid: 't-2', changes: [] })).toEqual({ rev: c.rev, conflicts: c.conflicts, devices: [] });
    // Another collection does not share txids.
    const elsewhere = await env.store.commit({ userId: u, collection: 'd', txid: 't-1', changes: [{ key: 'a', value: 'd' }] });
    expect(elsewhere.written?.changes).toEqual([{ key: 'a', rev: elsewhere.rev, value: 'd' }]);
    expect((await env.store.pull({ userId: u, collection: 'd', since: 0 })).changes).toEqual([{ key: 'a', rev: elsewhere.rev, value: 'd' }]);
  });

  it('store - txids are remembered for the last txidWindow commits of a collection, and checked', async () => {
    const u = user('window');
    const first = await env.store.commit({ userId: u, collection: 'c', txid: 'w-0', changes: [{ key: 'k', value: 0 }] });
    for (let i = 1; i <= 3; i++) await env.store.commit({ userId: u, collection: 'c', txid: `w-${i}`, changes: [{ key: 'k', value: i }] });
    // txidWindow is 3 in this file: w-0 has left the window and applies again.
    const late = await env.store.commit({ userId: u, collection: 'c', txid: 'w-0', changes: [{ key: 'k', value: 0 }] });
    expect(late.rev).toBeGreaterThan(first.rev);
    await expect(env.store.commit({ userId: u, collection: 'c', txid: 'x'.repeat(65), changes: [] })).rejects.toMatchObject({ code: 'bad_request' });
    await expect(env.store.commit({ userId: u, collection: 'c', txid: 7 as unknown as string, changes: [] })).rejects.toMatchObject({ code: 'bad_request' });
  });
});
