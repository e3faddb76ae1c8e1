/**
 * The client's local copy of a user's data: per collection, key -> {value, rev, deleted}, plus the
 * cursor (the rev the client has pulled up to) of each collection.
 *
 * Reads are synchronous, so a UI can render from the cache at any time. Writes are applied in memory
 * at once; a persistent cache (indexedDbCache) also writes them through in the background, records
 * and cursor of one write in one transaction, so a stored cursor never runs ahead of stored records.
 * The client only writes a record whose rev is newer than the cached one, and keeps deletions as
 * tombstones (`deleted: true`) so an older change arriving late cannot bring a deleted key back.
 *
 * The cache also keeps the server's storage epoch (sent in `welcome`): revs and cursors only mean
 * something within one epoch, so when the server names another one the client resets the cache.
 */

export interface CachedRecord {
  /** Any MessagePack value; absent when deleted. */
  readonly value?: unknown;
  readonly rev: number;
  readonly deleted: boolean;
}

/** A record with its key, as written to a cache. */
export interface CacheEntry extends CachedRecord {
  readonly key: string;
}

export interface Cache {
  /** Loads whatever was persisted. The client awaits it before its first read or write. */
  open(): Promise<void>;
  /** The record of `key`, tombstones included. */
  get(collection: string, key: string): CachedRecord | undefined;
  /** Every record of `collection`, tombstones included, in insertion order. */
  entries(collection: string): Array<[string, CachedRecord]>;
  /** Every collection with records or a cursor. */
  collections(): string[];
  /** The rev `collection` was pulled up to (0 when never pulled). */
  cursor(collection: string): number;
  /** Applies `records` (and, when given, the new cursor) as one step. */
  write(collection: string, records: readonly CacheEntry[], cursor?: number): void;
  /** Forgets a collection: records and cursor. */
  clear(collection: string): void;
  /** The storage epoch the cached records and cursors belong to; undefined when not known. */
  epoch(): string | undefined;
  /**
   * Forgets every collection (records and cursors) and records `epoch`, as one step: a persistent
   * cache never holds records of one epoch under the name of another.
   */
  reset(epoch: string): void;
  /** Resolves once every write so far is durable; rejects with the first failed write. */
  flush(): Promise<void>;
  /** Flushes and releases the storage. */
  close(): Promise<void>;
  /** Called when a background write fails (the client routes it to its 'error' event). */
  onError?: ((err: Error) => void) | undefined;
}

/** In-memory part shared by every cache. Internal: applications use memoryCache() or indexedDbCache(). */
export class MemoryStore {
  readonly #records = new Map<string, Map<string, CachedRecord>>();
  readonly #cursors = new Map<string, number>();
  #epoch: string | undefined;

  get(collection: string, key: string): CachedRecord | undefined {
    return this.#records.get(collection)?.get(key);
  }

  entries(collection: string): Array<[string, CachedRecord]> {
    return [...(this.#records.get(collection) ?? [])];
  }

  collections(): string[] {
    return [...new Set([...this.#records.keys(), ...this.#cursors.keys()])];
  }

  cursor(collection: string): number {
    return this.#cursors.get(collection) ?? 0;
  }

  write(collection: string, records: readonly CacheEntry[], cursor?: number): void {
    let map = this.#records.get(collection);
    if (!map) this.#records.set(collection, (map = new Map()));
    for (const r of records) map.set(r.key, toRecord(r));
    if (cursor !== undefined) this.#cursors.set(collection, cursor);
  }

  clear(collection: string): void {
    this.#records.delete(collection);
    this.#cursors.delete(collection);
  }

  epoch(): string | undefined {
    return this.#epoch;
  }

  reset(epoch: string): void {
    this.#records.clear();
    this.#cursors.clear();
    this.#epoch = epoch;
  }
}

/** Stored form of a record: no `value` field on a tombstone. */
export function toRecord(r: CachedRecord): CachedRecord {
  return r.deleted ? { rev: r.rev, deleted: true } : { value: r.value, rev: r.rev, deleted: false };
}

class MemoryCache implements Cache {
  readonly #store = new MemoryStore();
  onError: ((err: Error) => void) | undefined;

  open(): Promise<void> {
    return Promise.resolve();
  }
  get(collection: string, key: string): CachedRecord | undefined {
    return this.#store.get(collection, key);
  }
  entries(collection: string): Array<[string, CachedRecord]> {
    return this.#store.entries(collection);
  }
  collections(): string[] {
    return this.#store.collections();
  }
  cursor(collection: string): number {
    return this.#store.cursor(collection);
  }
  write(collection: string, records: readonly CacheEntry[], cursor?: number): void {
    this.#store.write(collection, records, cursor);
  }
  clear(collection: string): void {
    this.#store.clear(collection);
  }
  epoch(): string | undefined {
    return this.#store.epoch();
  }
  reset(epoch: string): void {
    this.#store.reset(epoch);
  }
  flush(): Promise<void> {
    return Promise.resolve();
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
}

/** A cache that lives as long as the page or process: every start pulls everything again. */
export function memoryCache(): Cache {
  return new MemoryCache();
}
