/**
 * The storage epoch of `welcome` on the client side: a cache filled from another epoch (a cluster whose
 * data was wiped) is dropped and every collection pulled from 0; a cache of the same epoch, or a
 * welcome without one, keeps the cache and pulls from the cursor. Runs against fake-cluster.ts, whose
 * wipe() forgets the data and changes the epoch as a restarted cluster on an empty data dir would.
 */
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { memoryCache, type Cache } from '../../client/cache.js';
import { createSyncClient } from '../../client/client.js';
import type { ChangeEvent, SyncClient } from '../../client/types.js';
import { FakeCluster, waitFor } from './fake-cluster.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

async function fakeCluster(): Promise<FakeCluster> {
  const fake = await FakeCluster.start();
  cleanups.push(() => fake[Symbol.asyncDispose]());
  return fake;
}

/** A laptop client of user u1 on `cache`, recording its change events. */
function laptop(fake: FakeCluster, cache: Cache, collections: string[] = []): { client: SyncClient; changes: ChangeEvent[] } {
  const client = createSyncClient({
    distributorUrl: fake.url,
    userId: 'u1',
    deviceId: 'laptop',
    token: 'good-token',
    WebSocket,
    cache,
    collections,
    backoff: { minMs: 10, maxMs: 40 },
  });
  cleanups.push(() => client.close());
  const changes: ChangeEvent[] = [];
  client.on('change', (e) => changes.push(e));
  return { client, changes };
}

const keys = (c: SyncClient, collection: string): string[] => c.entries(collection).map(([k]) => k);
const dropped = (collection: string, key: string): ChangeEvent => ({ collection, key, deleted: true, rev: 0, origin: 'remote' });

describe('client - storage epoch', () => {
  it('client - a welcome with another storage epoch drops the cache and pulls every collection from 0', async () => {
    const fake = await fakeCluster();
    for (const k of ['b1', 'b2', 'b3']) fake.storeDirect('u1', 'bookmarks', k, { title: k });
    fake.storeDirect('u1', 'tabs', 't1', 'a tab');
    const cache = memoryCache();
    const { client, changes } = laptop(fake, cache, ['bookmarks', 'tabs']);
    await waitFor('the first pull', () => keys(client, 'bookmarks').length === 3 && client.get('tabs', 't1') !== undefined);
    expect(cache.epoch()).toBe('fake-epoch-1');
    const oldCursor = cache.cursor('bookmarks');

    // The cluster comes back on a wiped data dir: revs start over, below the client's cursor.
    fake.wipe('fake-epoch-2');
    const rev = fake.storeDirect('u1', 'bookmarks', 'n1', { title: 'after the wipe' });
    expect(rev).toBeLessThan(oldCursor);
    const pullsBefore = fake.pulls.length;
    changes.length = 0;
    await fake.session('laptop')!.kill();

    await waitFor('the record written after the wipe', () => client.get('bookmarks', 'n1') !== undefined);
    await waitFor('tabs pulled again', () => fake.pulls.slice(pullsBefore).some((p) => p.collection === 'tabs'));
    expect(cache.epoch()).toBe('fake-epoch-2');
    expect(keys(client, 'bookmarks')).toEqual(['n1']);
    expect(client.get('tabs', 't1')).toBeUndefined();
    const pulls = fake.pulls.slice(pullsBefore);
    expect(pulls).toEqual(expect.arrayContaining([{ collection: 'bookmarks', since: 0 }, { collection: 'tabs', since: 0 }]));
    expect(pulls.some((p) => p.since === oldCursor)).toBe(false);
    // Every key the application saw is reported gone, then what the store holds now comes as usual.
    expect(changes.filter((c) => c.deleted)).toEqual(
      expect.arrayContaining([dropped('bookmarks', 'b1'), dropped('bookmarks', 'b2'), dropped('bookmarks', 'b3'), dropped('tabs', 't1')]),
    );
    expect(changes.filter((c) => c.deleted)).toHaveLength(4);
    expect(changes.at(-1)).toEqual({ collection: 'bookmarks', key: 'n1', value: { title: 'after the wipe' }, deleted: false, rev, origin: 'remote' });
  });

  it('client - a cache saved under another epoch is dropped when a client starts on it (a reload after a wipe)', async () => {
    const fake = await fakeCluster();
    fake.storeDirect('u1', 'bookmarks', 'b1', 'one');
    fake.storeDirect('u1', 'bookmarks', 'b2', 'two');
    const cache = memoryCache();
    const first = laptop(fake, cache, ['bookmarks']);
    await waitFor('the first pull', () => keys(first.client, 'bookmarks').length === 2);
    await first.client.close();

    fake.wipe('fake-epoch-2');
    fake.storeDirect('u1', 'bookmarks', 'n1', 'new');
    const pullsBefore = fake.pulls.length;
    // No collections named: the cache's own are pulled, from 0 now.
    const second = laptop(fake, cache);
    await waitFor('the record written after the wipe', () => second.client.get('bookmarks', 'n1') !== undefined);
    expect(keys(second.client, 'bookmarks')).toEqual(['n1']);
    expect(fake.pulls.slice(pullsBefore)).toEqual([{ collection: 'bookmarks', since: 0 }]);
    expect(second.changes.filter((c) => c.deleted)).toEqual([dropped('bookmarks', 'b1'), dropped('bookmarks', 'b2')]);
    expect(cache.epoch()).toBe('fake-epoch-2');
  });

  it('client - a cache of the same epoch is kept: a new client pulls from its cursor', async () => {
    const fake = await fakeCluster();
    fake.storeDirect('u1', 'bookmarks', 'b1', 'one');
    const cache = memoryCache();
    const first = laptop(fake, cache, ['bookmarks']);
    await waitFor('the first pull', () => first.client.get('bookmarks', 'b1') !== undefined);
    await first.client.close();

    const rev = fake.storeDirect('u1', 'bookmarks', 'b2', 'two');
    const pullsBefore = fake.pulls.length;
    const second = laptop(fake, cache);
    await waitFor('the record written meanwhile', () => second.client.get('bookmarks', 'b2') !== undefined);
    expect(fake.pulls.slice(pullsBefore)).toEqual([{ collection: 'bookmarks', since: 1 }]);
    expect(second.changes).toEqual([{ collection: 'bookmarks', key: 'b2', value: 'two', deleted: false, rev, origin: 'remote' }]);
    expect(keys(second.client, 'bookmarks')).toEqual(['b1', 'b2']);
  });

  it('client - a welcome without an epoch leaves the cache and its epoch as they are', async () => {
    const fake = await fakeCluster();
    fake.storeDirect('u1', 'bookmarks', 'b1', 'one');
    const cache = memoryCache();
    const first = laptop(fake, cache, ['bookmarks']);
    await waitFor('the first pull', () => first.client.get('bookmarks', 'b1') !== undefined);
    await first.client.close();

    fake.epoch = undefined;
    fake.storeDirect('u1', 'bookmarks', 'b2', 'two');
    const pullsBefore = fake.pulls.length;
    const second = laptop(fake, cache);
    await waitFor('the record written meanwhile', () => second.client.get('bookmarks', 'b2') !== undefined);
    expect(fake.pulls.slice(pullsBefore)).toEqual([{ collection: 'bookmarks', since: 1 }]);
    expect(second.changes.some((c) => c.deleted)).toBe(false);
    expect(cache.epoch()).toBe('fake-epoch-1');
  });
});
