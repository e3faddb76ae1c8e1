import { describe, expect, it } from 'vitest';
import { memoryCache } from '../../client/cache.js';

describe('client cache (memory)', () => {
  it('cache - keeps records per collection with rev and deleted', async () => {
    const cache = memoryCache();
    await cache.open();
    cache.write('bookmarks', [
      { key: 'a', value: { title: 'A' }, rev: 3, deleted: false },
      { key: 'b', value: 1, rev: 4, deleted: false },
    ]);
    cache.write('tabs', [{ key: 'a', value: 'other', rev: 5, deleted: false }]);
    expect(cache.get('bookmarks', 'a')).toEqual({ value: { title: 'A' }, rev: 3, deleted: false });
    expect(cache.get('tabs', 'a')).toEqual({ value: 'other', rev: 5, deleted: false });
    expect(cache.get('bookmarks', 'zzz')).toBeUndefined();
    expect(cache.entries('bookmarks').map(([k]) => k)).toEqual(['a', 'b']);
    expect(cache.collections().sort()).toEqual(['bookmarks', 'tabs']);
  });

  it('cache - a deletion becomes a tombstone without a value', async () => {
    const cache = memoryCache();
    cache.write('c', [{ key: 'k', value: 'v', rev: 1, deleted: false }]);
    cache.write('c', [{ key: 'k', value: 'ignored', rev: 2, deleted: true }]);
    expect(cache.get('c', 'k')).toEqual({ rev: 2, deleted: true });
    expect('value' in cache.get('c', 'k')!).toBe(false);
  });

  it('cache - cursors move only when a write names one, and count as a known collection', () => {
    const cache = memoryCache();
    expect(cache.cursor('c')).toBe(0);
    cache.write('c', [{ key: 'k', value: 1, rev: 7, deleted: false }]);
    expect(cache.cursor('c')).toBe(0);
    cache.write('c', [], 9);
    expect(cache.cursor('c')).toBe(9);
    cache.write('empty', [], 4);
    expect(cache.collections().sort()).toEqual(['c', 'empty']);
  });

  it('cache - clear forgets records and cursor of one collection only', async () => {
    const cache = memoryCache();
    cache.write('a', [{ key: 'k', value: 1, rev: 1, deleted: false }], 1);
    cache.write('b', [{ key: 'k', value: 2, rev: 2, deleted: false }], 2);
    cache.clear('a');
    expect(cache.get('a', 'k')).toBeUndefined();
    expect(cache.cursor('a')).toBe(0);
    expect(cache.get('b', 'k')?.value).toBe(2);
    await expect(cache.flush()).resolves.toBeUndefined();
    await cache.close();
  });

  it('cache - reset forgets every collection and cursor and remembers the storage epoch', () => {
    const cache = memoryCache();
    expect(cache.epoch()).toBeUndefined();
    cache.write('a', [{ key: 'k', value: 1, rev: 3, deleted: false }], 3);
    cache.write('b', [{ key: 'k', value: 2, rev: 4, deleted: false }], 4);
    cache.reset('epoch-1');
    expect(cache.epoch()).toBe('epoch-1');
    expect(cache.collections()).toEqual([]);
    expect(cache.get('a', 'k')).toBeUndefined();
    expect(cache.cursor('b')).toBe(0);
    cache.write('a', [{ key: 'k', value: 'new', rev: 1, deleted: false }], 1);
    expect(cache.epoch()).toBe('epoch-1');
    expect(cache.get('a', 'k')?.value).toBe('new');
  });

  it('cache - keeps any MessagePack value, BigInt included', () => {
    const cache = memoryCache();
    const value = { n: 2n ** 40n, bytes: Uint8Array.from([1, 2]), list: [null, true, 'x'] };
    cache.write('c', [{ key: 'k', value, rev: 1, deleted: false }]);
    expect(cache.get('c', 'k')?.value).toEqual(value);
  });
});
