/**
 * Storage quotas (limits.ts) and full streams: each refused with quota_exceeded, naming the quota,
 * and nothing stored is changed by the refused request.
 */
import { describe, expect, it } from 'vitest';
import { DEFAULT_STORE_LIMITS, parseStoreLimits, QuotaExceededError, type CloudStore } from '../../actors/store/mod.js';
import { storeEnv } from './kit.js';

async function refused(p: Promise<unknown>, pattern: RegExp): Promise<void> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(QuotaExceededError);
  expect((err as QuotaExceededError).code).toBe('quota_exceeded');
  expect((err as Error).message).toMatch(pattern);
}

async function keys(store: CloudStore, userId: string, collection: string): Promise<string[]> {
  return (await store.pull({ userId, collection, since: 0 })).changes.map((c) => c.key).sort();
}

describe('store - quotas', () => {
  it('store - limit overrides of the storage role are parsed by name and checked', () => {
    expect(parseStoreLimits(['maxUserBytes=1000', 'maxDevicesPerUser=3'])).toEqual({ maxUserBytes: 1000, maxDevicesPerUser: 3 });
    expect(parseStoreLimits([])).toEqual({});
    expect(() => parseStoreLimits(['maxUserByte=1'])).toThrow(/unknown storage limit "maxUserByte"; known: .*maxUserBytes/);
    expect(() => parseStoreLimits(['maxUserBytes=0'])).toThrow(/whole number of at least 1/);
    expect(() => parseStoreLimits(['maxUserBytes'])).toThrow(/maxUserBytes=N/);
    // The defaults are documented in actors/store/README.md; these are the ones that protect a node.
    expect(DEFAULT_STORE_LIMITS).toMatchObject({ maxUserBytes: 64 * 1024 * 1024, maxKeysPerCollection: 10_000, maxCollectionsPerUser: 100, maxDevicesPerUser: 100, maxPendingCommands: 1000 });
  });

  it('store - keys per collection, bytes per user and collections per user are quotas; shrinking always passes', async () => {
    await using env = await storeEnv({ limits: { maxKeysPerCollection: 5, maxUserBytes: 4000, maxCollectionsPerUser: 2 } });
    const { store } = env;
    const u = 'quota-user';

    await store.commit({ userId: u, collection: 'c', changes: ['a', 'b', 'c', 'd'].map((key) => ({ key, value: 1 })) });
    await refused(store.commit({ userId: u, collection: 'c', changes: [{ key: 'e', value: 1 }, { key: 'f', value: 1 }] }), /6 keys; the quota is 5 keys per collection/);
    expect(await keys(store, u, 'c')).toEqual(['a', 'b', 'c', 'd']);
    // Rewriting existing keys adds none; a deleted key keeps its place.
    await store.commit({ userId: u, collection: 'c', changes: [{ key: 'a', value: 2 }, { key: 'e', value: 1 }] });
    await store.commit({ userId: u, collection: 'c', changes: [{ key: 'e', deleted: true }] });
    await refused(store.commit({ userId: u, collection: 'c', changes: [{ key: 'g', value: 1 }] }), /keys per collection \(deleted keys count\)/);

    // Bytes: 4000 per user, over every collection.
    await store.commit({ userId: u, collection: 'big', changes: [{ key: 'x', value: 'x'.repeat(3000) }] });
    await refused(store.commit({ userId: u, collection: 'c', changes: [{ key: 'b', value: 'y'.repeat(1000) }] }), /bytes per user/);
    // Shrinking passes, and frees room.
    await store.commit({ userId: u, collection: 'big', changes: [{ key: 'x', value: 'small' }] });
    await store.commit({ userId: u, collection: 'c', changes: [{ key: 'b', value: 'y'.repeat(1000) }] });

    // Collections: 2 per user ('c' and 'big').
    await refused(store.commit({ userId: u, collection: 'third', changes: [{ key: 'k', value: 1 }] }), /2 collections/);
    expect((await store.pull({ userId: u, collection: 'third', since: 0 })).changes).toEqual([]);
    // Another user has quotas of its own.
    await store.commit({ userId: 'quota-other', collection: 'third', changes: [{ key: 'k', value: 'x'.repeat(3000) }] });

    // A node that never served the user counts the same (quotas come from the stored indexes).
    store.forget(u);
    await refused(store.commit({ userId: u, collection: 'big', changes: [{ key: 'x', value: 'z'.repeat(3500) }] }), /bytes per user/);
  });

  it('store - a full record stream answers quota_exceeded and keeps what was stored, whole commits only', async () => {
    await using env = await storeEnv({ limits: { recordStreamBytes: 64 * 1024 } });
    const { store } = env;
    const u = 'full-user';
    const value = 'v'.repeat(4000);
    const written: string[] = [];
    let error: unknown;
    for (let i = 0; i < 40 && error === undefined; i++) {
      try {
        await store.commit({ userId: u, collection: 'c', changes: [{ key: `k${i}`, value }] });
        written.push(`k${i}`);
      } catch (err) {
        error = err;
      }
    }
    expect(error).toBeInstanceOf(QuotaExceededError);
    expect((error as Error).message).toMatch(/storage is full.*maximum bytes exceeded/);
    expect(written.length).toBeGreaterThan(5);
    // Everything acknowledged is there, nothing of the refused commit.
    store.forget(u);
    expect(await keys(store, u, 'c')).toEqual([...written].sort());
    // A multi-key commit that does not fit is refused whole: none of its keys becomes visible.
    await refused(store.commit({ userId: u, collection: 'c', changes: [{ key: 'p', value: 'p' }, { key: 'q', value }] }), /storage is full/);
    expect(await keys(store, u, 'c')).toEqual([...written].sort());
    // Tiny writes into the last bytes must not make JetStream drop the oldest records to fit them
    // (nats-server 2.9 counts only the payload against max_bytes before it stores, then evicts: room.ts).
    const small: string[] = [];
    for (let i = 0; i < 50; i++) {
      const ok = await store.commit({ userId: u, collection: 'small', changes: [{ key: `s${i}`, value: 's' }] }).then(
        () => true,
        (err: unknown) => (err instanceof QuotaExceededError ? false : Promise.reject(err)),
      );
      if (!ok) break;
      small.push(`s${i}`);
    }
    store.forget(u);
    expect(await keys(store, u, 'c'), 'no record was evicted to make room').toEqual([...written].sort());
    expect(await keys(store, u, 'small')).toEqual([...small].sort());
  });
});
