/**
 * The cloud storage core against a real nats-server: commits, pulls, conflicts, isolation, limits.
 * One server per file; each test works in users of its own.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jetstreamManager } from '@nats-io/jetstream';
import { BadRequestError, createCloudStore, INDEX_DUPLICATE_WINDOW_MS, StoreSetupError, storeLayout, TooLargeError, type CloudStore } from '../../actors/store/mod.js';
import type { Record_ } from '../../actors/messages.js';
import { pullPages, storeEnv, type StoreEnv } from './kit.js';

let env: StoreEnv;
/** The store the running suite uses: values inline in the index, or every value in the record stream. */
let store: CloudStore;
let inlineStore: CloudStore;
let externalStore: CloudStore;
let n = 0;
/** A user id no other test uses. */
const user = (name: string): string => `${name}-${++n}`;

beforeAll(async () => {
  env = await storeEnv({ limits: { maxPageBytes: 4096 } });
  inlineStore = env.store;
  // A budget of 1 byte keeps nothing inline: the same suite over the record stream.
  externalStore = await createCloudStore({ nc: env.nc, limits: { maxPageBytes: 4096, inlineCollectionBytes: 1 } });
});

afterAll(async () => {
  await externalStore?.close();
  await env?.[Symbol.asyncDispose]();
});

const byKey = (records: Record_[]): Record<string, Record_> => Object.fromEntries(records.map((r) => [r.key, r]));

/** Every page of a pull from `since`, from the running suite's store. */
const pullAll = (userId: string, collection: string, since = 0): Promise<Record_[]> => pullPages(store, userId, collection, since);

/** Every behaviour below holds wherever the values live. */
function behaviours(): void {
  describe('store - commit and pull', () => {
    it('store - a commit is pulled back with its values, and revs grow with every write', async () => {
      const u = user('alice');
      const first = await store.commit({ userId: u, collection: 'bookmarks', changes: [{ key: 'a', value: { url: 'https://a.example' } }, { key: 'b', value: [1, 'two', null, true] }] });
      expect(first.conflicts).toEqual([]);
      expect(first.rev).toBeGreaterThan(0);
      const second = await store.commit({ userId: u, collection: 'bookmarks', changes: [{ key: 'c', value: 'x' }] });
      expect(second.rev).toBeGreaterThan(first.rev);

      const pulled = await store.pull({ userId: u, collection: 'bookmarks', since: 0 });
      expect(pulled.more).toBe(false);
      expect(pulled.rev).toBe(second.rev);
      expect(pulled.changes.map((c) => c.key)).toEqual(['a', 'b', 'c']);
      const revs = pulled.changes.map((c) => c.rev);
      expect([...revs].sort((p, q) => p - q)).toEqual(revs);
      expect(new Set(revs).size).toBe(3);
      expect(byKey(pulled.changes)['a']!.value).toEqual({ url: 'https://a.example' });
      expect(byKey(pulled.changes)['b']!.value).toEqual([1, 'two', null, true]);

      // Nothing changed since the cursor: no changes, the cursor comes back as it was.
      expect(await store.pull({ userId: u, collection: 'bookmarks', since: pulled.rev })).toEqual({ rev: pulled.rev, changes: [], more: false });
      // A collection never written: empty.
      expect(await store.pull({ userId: u, collection: 'nothing', since: 0 })).toEqual({ rev: 0, changes: [], more: false });
    });

    it('store - pull since R returns each key changed after R once, in its latest state, deletes as tombstones', async () => {
      const u = user('dave');
      const seen = await store.commit({ userId: u, collection: 'c', changes: [{ key: 'x', value: 1 }, { key: 'y', value: 1 }, { key: 'keep', value: 'same' }] });
      await store.commit({ userId: u, collection: 'c', changes: [{ key: 'x', value: 2 }] });
      await store.commit({ userId: u, collection: 'other', changes: [{ key: 'x', value: 'elsewhere' }] });
      const last = await store.commit({ userId: u, collection: 'c', changes: [{ key: 'x', value: 3 }, { key: 'y', deleted: true }, { key: 'z', value: 'new' }] });

      const pulled = await store.pull({ userId: u, collection: 'c', since: seen.rev });
      expect(pulled.more).toBe(false);
      expect(pulled.rev).toBe(last.rev);
      const keys = pulled.changes.map((c) => c.key);
      expect([...keys].sort()).toEqual(['x', 'y', 'z']);
      const got = byKey(pulled.changes);
      expect(got['x']).toMatchObject({ value: 3 });
      expect(got['y']).toEqual({ key: 'y', rev: got['y']!.rev, deleted: true });
      expect(got['z']).toMatchObject({ value: 'new' });
      for (const c of pulled.changes) expect(c.rev).toBeGreaterThan(seen.rev);

      // A full pull also shows the tombstone: a device that saw `y` learns it is gone.
      const all = byKey((await store.pull({ userId: u, collection: 'c', since: 0 })).changes);
      expect(Object.keys(all).sort()).toEqual(['keep', 'x', 'y', 'z']);
      expect(all['y']!.deleted).toBe(true);
      expect(all['keep']!.value).toBe('same');
    });

    it('store - pull pages with more:true and the last rev as the next cursor, by count and by bytes', async () => {
      const u = user('pager');
      const changes = Array.from({ length: 23 }, (_, i) => ({ key: `k${String(i).padStart(2, '0')}`, value: i }));
      await store.commit({ userId: u, collection: 'c', changes });
      const seen: string[] = [];
      let since = 0;
      let pages = 0;
      for (;;) {
        const page = await store.pull({ userId: u, collection: 'c', since, limit: 5 });
        pages++;
        expect(page.changes.length).toBeLessThanOrEqual(5);
        expect(page.rev).toBeGreaterThanOrEqual(since);
        seen.push(...page.changes.map((c) => c.key));
        if (page.changes.length > 0) expect(page.rev).toBe(page.changes.at(-1)!.rev);
        since = page.rev;
        if (!page.more) break;
      }
      expect(pages).toBe(5);
      expect(seen).toEqual(changes.map((c) => c.key));

      // maxPageBytes is 4096 in this file: 1500-byte values come three to a page (at least one always).
      const big = user('bigpager');
      await store.commit({ userId: big, collection: 'c', changes: Array.from({ length: 7 }, (_, i) => ({ key: `b${i}`, value: 'v'.repeat(1500) })) });
      const first = await store.pull({ userId: big, collection: 'c', since: 0 });
      expect(first.more).toBe(true);
      expect(first.changes).toHaveLength(3);
      const second = await store.pull({ userId: big, collection: 'c', since: first.rev });
      const third = await store.pull({ userId: big, collection: 'c', since: second.rev });
      expect([...first.changes, ...second.changes, ...third.changes].map((c) => c.key)).toEqual(['b0', 'b1', 'b2', 'b3', 'b4', 'b5', 'b6']);
      expect(third.more).toBe(false);
    });

    it('store - 64-bit integers are stored and returned intact, as BigInt', async () => {
      const u = user('bigint');
      const value = { max: 2n ** 64n - 1n, min: -(2n ** 63n), big: 2n ** 40n, nested: [2n ** 63n - 1n, { deep: 2n ** 53n + 1n }], small: 7 };
      const c = await store.commit({ userId: u, collection: 'n', changes: [{ key: 'v', value }] });
      const pulled = await store.pull({ userId: u, collection: 'n', since: 0 });
      const got = pulled.changes[0]!.value as typeof value;
      expect(got.max).toBe(2n ** 64n - 1n);
      expect(got.min).toBe(-(2n ** 63n));
      expect(BigInt(got.big)).toBe(2n ** 40n);
      expect(got.nested[0]).toBe(2n ** 63n - 1n);
      expect(got.nested[1]).toEqual({ deep: 2n ** 53n + 1n });
      expect(got.small).toBe(7);
      // The same value comes back intact in a conflict too.
      const stale = await store.commit({ userId: u, collection: 'n', changes: [{ key: 'v', value: 0, base: c.rev - 1 }] });
      expect((stale.conflicts[0]!.value as typeof value).max).toBe(2n ** 64n - 1n);
    });
  });

  describe('store - conflicts', () => {
    it('store - a change with a stale base is not applied and comes back with the current state; fresh bases apply', async () => {
      const u = user('carol');
      const first = await store.commit({ userId: u, collection: 'notes', changes: [{ key: 'n', value: 'v1' }] });
      const second = await store.commit({ userId: u, collection: 'notes', changes: [{ key: 'n', value: 'v2', base: first.rev }] });
      expect(second.conflicts).toEqual([]);
      const stale = await store.commit({ userId: u, collection: 'notes', changes: [{ key: 'n', value: 'v3', base: first.rev }, { key: 'm', value: 'ok' }] });
      expect(stale.conflicts).toEqual([{ key: 'n', rev: second.rev, value: 'v2' }]);
      expect(stale.rev).toBeGreaterThan(second.rev);
      const all = byKey((await store.pull({ userId: u, collection: 'notes', since: 0 })).changes);
      expect(all['n']!.value).toBe('v2');
      expect(all['m']!.value).toBe('ok');

      // Only conflicts: nothing written, the rev is the collection's latest.
      const none = await store.commit({ userId: u, collection: 'notes', changes: [{ key: 'n', value: 'v4', base: first.rev }] });
      expect(none.conflicts).toHaveLength(1);
      expect(none.rev).toBe(stale.rev);
    });

    it('store - base 0 means the key must not exist: refused over a value, accepted for a new key or over a tombstone', async () => {
      const u = user('creator');
      const made = await store.commit({ userId: u, collection: 'c', changes: [{ key: 'new', value: 1, base: 0 }] });
      expect(made.conflicts).toEqual([]);
      const again = await store.commit({ userId: u, collection: 'c', changes: [{ key: 'new', value: 2, base: 0 }] });
      expect(again.conflicts).toEqual([{ key: 'new', rev: made.rev, value: 1 }]);
      const deleted = await store.commit({ userId: u, collection: 'c', changes: [{ key: 'new', deleted: true, base: made.rev }] });
      expect(deleted.conflicts).toEqual([]);
      const recreated = await store.commit({ userId: u, collection: 'c', changes: [{ key: 'new', value: 3, base: 0 }] });
      expect(recreated.conflicts).toEqual([]);
      expect(recreated.rev).toBeGreaterThan(deleted.rev);
      // A base for a key that never existed: the conflict says so (rev 0, deleted).
      const ghost = await store.commit({ userId: u, collection: 'c', changes: [{ key: 'ghost', value: 1, base: 5 }] });
      expect(ghost.conflicts).toEqual([{ key: 'ghost', rev: 0, deleted: true }]);
    });

    it('store - writers racing on one key with the same base: exactly one wins, the others get its state', async () => {
      const u = user('racer');
      const start = await store.commit({ userId: u, collection: 'c', changes: [{ key: 'k', value: 'start' }] });
      const results = await Promise.all(
        Array.from({ length: 8 }, (_, i) => store.commit({ userId: u, collection: 'c', changes: [{ key: 'k', value: `w${i}`, base: start.rev }] })),
      );
      const winners = results.filter((r) => r.conflicts.length === 0);
      expect(winners).toHaveLength(1);
      const final = byKey((await store.pull({ userId: u, collection: 'c', since: 0 })).changes)['k']!;
      expect(final.rev).toBe(winners[0]!.rev);
      for (const r of results.filter((x) => x.conflicts.length > 0)) expect(r.conflicts).toEqual([{ key: 'k', rev: final.rev, value: final.value }]);
    });

    it('store - changes to one key within a commit apply in order', async () => {
      const u = user('order');
      const r = await store.commit({ userId: u, collection: 'c', changes: [{ key: 'k', value: 1, base: 0 }, { key: 'k', value: 2 }, { key: 'j', value: 'j' }, { key: 'k', deleted: true }] });
      expect(r.conflicts).toEqual([]);
      const all = byKey((await store.pull({ userId: u, collection: 'c', since: 0 })).changes);
      expect(all['k']).toMatchObject({ deleted: true });
      expect(all['k']!.rev).toBe(r.rev);
    });
  });

  describe('store - isolation', () => {
    it('store - one user never reads, overwrites or conflicts with another user\'s records, whatever the names', async () => {
      // Ids chosen to trip naive subject building: dots, wildcards, a prefix of the other.
      const a = user('eve.*.>');
      const b = `${a}.x`;
      const w = await store.commit({ userId: a, collection: 'c', changes: [{ key: 'secret', value: 'a-only' }, { key: 'a.b', value: 1 }] });
      expect(await store.pull({ userId: b, collection: 'c', since: 0 })).toEqual({ rev: 0, changes: [], more: false });
      // B writing with A's rev as base: the key does not exist for B.
      const bw = await store.commit({ userId: b, collection: 'c', changes: [{ key: 'secret', value: 'b', base: w.rev }] });
      expect(bw.conflicts).toEqual([{ key: 'secret', rev: 0, deleted: true }]);
      await store.commit({ userId: b, collection: 'c', changes: [{ key: 'secret', value: 'b-own' }] });
      const mine = await store.pull({ userId: a, collection: 'c', since: 0 });
      expect(byKey(mine.changes)['secret']!.value).toBe('a-only');
      expect(mine.changes.map((c) => c.key).sort()).toEqual(['a.b', 'secret']);
      // Collections are separate namespaces too, and names with wildcard characters are plain names.
      await store.commit({ userId: a, collection: '*', changes: [{ key: '>', value: 'star' }] });
      expect((await store.pull({ userId: a, collection: '*', since: 0 })).changes.map((c) => c.key)).toEqual(['>']);
      expect(byKey((await store.pull({ userId: a, collection: 'c', since: 0 })).changes)['>']).toBeUndefined();
    });
  });

  describe('store - limits and bad input', () => {
    const u = (): string => user('limits');
    const expectCode = async (p: Promise<unknown>, cls: typeof BadRequestError | typeof TooLargeError, code: string): Promise<void> => {
      const err = await p.then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(cls);
      expect((err as BadRequestError).code).toBe(code);
    };

    it('store - malformed requests are bad_request, oversized ones too_large, and nothing of them is written', async () => {
      const id = u();
      const bad = (changes: unknown[], collection: unknown = 'c'): Promise<unknown> =>
        store.commit({ userId: id, collection: collection as string, changes: changes as never });
      await expectCode(bad([{ key: 'k', value: 1 }], ''), BadRequestError, 'bad_request');
      await expectCode(bad([{ key: 'k', value: 1 }], 7), BadRequestError, 'bad_request');
      await expectCode(bad([{ key: 'k', value: 1 }], 'c'.repeat(129)), BadRequestError, 'bad_request');
      await expectCode(bad([{ key: '', value: 1 }]), BadRequestError, 'bad_request');
      await expectCode(bad([{ key: 'k'.repeat(513), value: 1 }]), BadRequestError, 'bad_request');
      await expectCode(bad([{ key: 'bad\uD800', value: 1 }]), BadRequestError, 'bad_request');
      await expectCode(bad([{ key: 'k' }]), BadRequestError, 'bad_request');
      await expectCode(bad([{ key: 'k', value: 1, deleted: true }]), BadRequestError, 'bad_request');
      await expectCode(bad([{ key: 'k', value: 1, base: -1 }]), BadRequestError, 'bad_request');
      await expectCode(bad([{ key: 'k', value: 1, base: 'x' }]), BadRequestError, 'bad_request');
      await expectCode(bad([null]), BadRequestError, 'bad_request');
      // One bad change after good ones: the good ones are not written either.
      await expectCode(bad([{ key: 'good', value: 1 }, { key: 'huge', value: 'x'.repeat(256 * 1024) }]), TooLargeError, 'too_large');
      await expectCode(bad(Array.from({ length: 501 }, (_, i) => ({ key: `k${i}`, value: i }))), TooLargeError, 'too_large');
      await expectCode(bad(Array.from({ length: 10 }, (_, i) => ({ key: `k${i}`, value: 'x'.repeat(250 * 1024) }))), TooLargeError, 'too_large');
      await expectCode(store.commit({ userId: '', collection: 'c', changes: [] }), BadRequestError, 'bad_request');
      await expectCode(store.pull({ userId: id, collection: 'c', since: -1 }), BadRequestError, 'bad_request');
      await expectCode(store.pull({ userId: id, collection: 'c', since: 1.5 }), BadRequestError, 'bad_request');
      await expectCode(store.pull({ userId: id, collection: 'c', since: 0, limit: 0 }), BadRequestError, 'bad_request');
      expect(await store.pull({ userId: id, collection: 'c', since: 0 })).toEqual({ rev: 0, changes: [], more: false });
      // The error says what to do.
      const err = (await bad([{ key: 'k' }]).catch((e: unknown) => e)) as Error;
      expect(err.message).toMatch(/neither a value nor deleted/);
    });

    it('store - a value just under the limit, null, and unicode names are accepted', async () => {
      const id = u();
      const name = 'ключ/🔑 with spaces.and.dots';
      const r = await store.commit({ userId: id, collection: name, changes: [{ key: name, value: 'x'.repeat(200 * 1024) }, { key: 'nil', value: null }] });
      expect(r.conflicts).toEqual([]);
      const all = byKey(await pullAll(id, name));
      expect((all[name]!.value as string).length).toBe(200 * 1024);
      expect(all['nil']).toEqual({ key: 'nil', rev: all['nil']!.rev, value: null });
    });
  });
}

describe('store - small values inline in the index (the default)', () => {
  beforeAll(() => {
    store = inlineStore;
  });
  behaviours();
});

describe('store - every value in the record stream (inlineCollectionBytes=1)', () => {
  beforeAll(() => {
    store = externalStore;
  });
  behaviours();
});

describe('store - index writes and the duplicate window', () => {
  it("store - an index write carries its attempt's id in a header nats-server does not track (no Nats-Msg-Id); the stream keeps its 30-s window; any retry budget is accepted", async () => {
    const jsm = await jetstreamManager(env.nc);
    const info = await jsm.streams.info('sm-index');
    expect(info.config.duplicate_window).toBe(INDEX_DUPLICATE_WINDOW_MS * 1_000_000);
    expect(INDEX_DUPLICATE_WINDOW_MS).toBe(30_000);
    const u = user('headers');
    await inlineStore.commit({ userId: u, collection: 'c', changes: [{ key: 'k', value: 1 }] });
    const m = await jsm.streams.getMessage('sm-index', { last_by_subj: storeLayout('sm').collectionIndex(u, 'c') });
    expect(m?.header.get('Sm-Write-Id')).toMatch(/^ix-[0-9a-f]{16}[0-9a-z]+$/);
    expect(m?.header.get('Nats-Msg-Id')).toBe('');
    const patient = await createCloudStore({ nc: env.nc, retryForMs: 28_000, timeoutMs: 2_000 });
    await patient.close();
  });
});
