/**
 * Inline values (actors/store/README.md): a collection keeps small values in its index, so a commit
 * of them is one JetStream write; values past the collection's budget go to the record stream; any
 * mix pulls back the same, by revision, across a restart; an index of the first layout (revision =
 * record sequence, nothing inline) is read as it is and commits continue after it.
 */
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jetstreamManager, jetstream, type JetStreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { createCloudStore, storeLayout, type CloudStore } from '../../actors/store/mod.js';
import type { Record_ } from '../../actors/messages.js';
import { encode } from '../../protocol/mod.js';
import { eventually, pullPages, storeEnv, type StoreEnv } from './kit.js';

let env: StoreEnv;
let jsm: JetStreamManager;
let n = 0;
const user = (name: string): string => `${name}-${++n}`;
const layout = storeLayout('sm');

beforeAll(async () => {
  env = await storeEnv();
  jsm = await jetstreamManager(env.nc);
});

afterAll(async () => {
  await env?.[Symbol.asyncDispose]();
});

async function streamState(name: string): Promise<{ messages: number; last: number }> {
  const s = (await jsm.streams.info(name)).state;
  return { messages: s.messages, last: s.last_seq };
}

/** A value whose MessagePack encoding is `bytes` long (a string of bytes - 2 characters, up to 255). */
const sized = (bytes: number): string => 'v'.repeat(bytes - 2);

describe('store - inline values', () => {
  it('store - a commit of small values to a small collection is one write to the index stream and none to the record stream', async () => {
    const u = user('one-write');
    // The first commit also registers the collection in the user's index.
    await env.store.commit({ userId: u, collection: 'notes', changes: [{ key: 'k0', value: 'first' }] });
    const records = await streamState('sm-records');
    const index = await streamState('sm-index');
    let last = 0;
    for (let i = 1; i <= 20; i++) {
      const r = await env.store.commit({ userId: u, collection: 'notes', changes: [{ key: `k${i % 5}`, value: { i } }] });
      expect(r.rev).toBe(last === 0 ? r.rev : last + 1);
      last = r.rev;
    }
    expect(await streamState('sm-records')).toEqual(records);
    expect((await streamState('sm-index')).last).toBe(index.last + 20);
    const pulled = await pullPages(env.store, u, 'notes');
    expect(pulled.map((r) => [r.key, r.value])).toEqual([
      ['k1', { i: 16 }],
      ['k2', { i: 17 }],
      ['k3', { i: 18 }],
      ['k4', { i: 19 }],
      ['k0', { i: 20 }],
    ]);
  });

  it('store - values past the budget go to the record stream; every mix pulls back by revision, the same after a restart, and replaced records are deleted', async () => {
    const u = user('mix');
    const store = await createCloudStore({ nc: env.nc, limits: { inlineCollectionBytes: 300 } });
    const expected = new Map<string, unknown>();
    try {
      const before = await streamState('sm-records');
      // Each key+value costs 2 + 50 bytes: five fit in 300, the other five go to the record stream.
      for (let i = 0; i < 10; i++) {
        const value = `${i}${sized(49)}`;
        await store.commit({ userId: u, collection: 'c', changes: [{ key: `k${i}`, value }] });
        expected.set(`k${i}`, value);
      }
      expect((await streamState('sm-records')).messages).toBe(before.messages + 5);

      // An inline value replaced by a large one (to the record stream, freeing budget), a stored one by
      // a small one (inline again), a delete of each kind, and one commit of several keys.
      const big = sized(400);
      const r1 = await store.commit({ userId: u, collection: 'c', changes: [{ key: 'k0', value: big }] });
      const r2 = await store.commit({ userId: u, collection: 'c', changes: [{ key: 'k7', value: 'small' }] });
      expect(r2.rev).toBe(r1.rev + 1);
      await store.commit({ userId: u, collection: 'c', changes: [{ key: 'k1', deleted: true }, { key: 'k8', deleted: true }, { key: 'k10', value: 10n ** 18n }, { key: 'k3', value: null }] });
      expected.set('k0', big).set('k7', 'small').set('k10', 10n ** 18n).set('k3', null);
      expected.delete('k1');
      expected.delete('k8');

      const check = async (s: CloudStore): Promise<Record_[]> => {
        const pulled = await pullPages(s, u, 'c');
        const revs = pulled.map((r) => r.rev);
        expect(revs).toEqual([...revs].sort((a, b) => a - b));
        expect(new Set(revs).size).toBe(revs.length);
        expect(Object.fromEntries(pulled.filter((r) => !r.deleted).map((r) => [r.key, r.value]))).toEqual(Object.fromEntries(expected));
        expect(pulled.filter((r) => r.deleted).map((r) => r.key).sort()).toEqual(['k1', 'k8']);
        return pulled;
      };
      const pulled = await check(store);
      // A cursor in the middle: exactly the keys changed after it.
      const mid = pulled[4]!.rev;
      expect((await pullPages(store, u, 'c', mid)).map((r) => r.key)).toEqual(pulled.slice(5).map((r) => r.key));

      // Another node serving the user after this one: everything comes from what is stored.
      const nc2 = await connect({ servers: env.ns.url });
      const restarted = await createCloudStore({ nc: nc2, limits: { inlineCollectionBytes: 300 } });
      try {
        await check(restarted);
      } finally {
        await restarted.close();
        await nc2.close();
      }

      // The record stream keeps only what the index names: 5 stored values, minus k7 (inline now) and
      // k8 (deleted), plus k0; tombstones and small values take no record.
      await eventually('replaced records deleted', async () => ((await streamState('sm-records')).messages === before.messages + 4 ? true : undefined));
    } finally {
      await store.close();
    }
  });

  it('store - an index of the first layout (revision = record sequence) is read as it is, and commits continue after its revisions', async () => {
    const u = user('v1');
    const js = jetstream(env.nc);
    const value = { title: 'kept from v1' };
    const payload = encode(value);
    const ack = await js.publish(layout.record(u, 'old', 'a'), payload);
    const entry = Buffer.alloc(28);
    createHash('sha256').update('a', 'utf8').digest().subarray(0, 16).copy(entry, 0);
    entry.writeBigUInt64BE(BigInt(ack.seq), 16);
    entry.writeUInt32BE(payload.length, 24);
    await js.publish(layout.collectionIndex(u, 'old'), encode({ v: 1, rev: ack.seq, e: new Uint8Array(entry), tx: [['tx-of-v1', ack.seq, []]] }));
    await js.publish(layout.userIndex(u), encode({ v: 1, cols: ['old'], devs: [] }));

    const store = await createCloudStore({ nc: env.nc });
    try {
      expect(await pullPages(store, u, 'old')).toEqual([{ key: 'a', rev: ack.seq, value }]);
      // A txid the first layout remembered still answers its commit, applying nothing.
      expect(await store.commit({ userId: u, collection: 'old', txid: 'tx-of-v1', changes: [{ key: 'a', value: 'again' }] })).toEqual({ rev: ack.seq, conflicts: [], devices: [] });
      const r = await store.commit({ userId: u, collection: 'old', changes: [{ key: 'b', value: 2 }, { key: 'a', value: 'new', base: ack.seq }] });
      expect(r).toMatchObject({ rev: ack.seq + 2, conflicts: [] });
      expect(await pullPages(store, u, 'old', ack.seq)).toEqual([
        { key: 'b', rev: ack.seq + 1, value: 2 },
        { key: 'a', rev: ack.seq + 2, value: 'new' },
      ]);
      // The replaced first-layout record is deleted like any other.
      await eventually('the v1 record deleted', async () => ((await jsm.streams.getMessage('sm-records', { seq: ack.seq }).catch(() => null)) === null ? true : undefined));
    } finally {
      await store.close();
    }
  });
});
