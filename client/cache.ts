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
 *
 * And it keeps the client's write queue (the outbox): local writes not yet acknowledged by the server,
 * in the order they were made. A persistent cache persists them too, so writes made offline survive a
 * reload and are sent when the next client opens the same cache.
 */

export interface CachedRecord {
  /** Any MessagePack value; absent when deleted. */
  readonly value?: unknown;
  /** The server's rev of the key (0 when the server has not seen it yet). */
  readonly rev: number;
  readonly deleted: boolean;
  /**
   * Set (true) on what the client's reads return when the value is a local write the server has not
   * acknowledged yet; `rev` is then the server's rev the write started from. Never stored in a cache.
   */
  readonly pending?: boolean;
}

/** One change of a queued write, as stored in the outbox. */
export interface QueuedChange {
  readonly key: string;
  /** Absent when deleted. */
  readonly value?: unknown;
  readonly deleted: boolean;
  /** The rev the write is conditional on (0: the key must not exist); absent: unconditional. */
  readonly base?: number;
  /**
   * The write was conditional (`ifRev: true`) on an earlier queued write of the same key: its base is
   * the rev that earlier write gets, known only once the server answered it.
   */
  readonly chained?: boolean;
}

/** A local write waiting for the server's acknowledgement, in the outbox. */
export interface QueuedWrite {
  /** The commit's idempotency key: a resend with the same txid is answered, not applied twice. */
  readonly txid: string;
  readonly collection: string;
  readonly changes: readonly QueuedChange[];
  /** When the application made the write (ms since the epoch). */
  readonly queuedAt: number;
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
  /** The outbox: queued writes, oldest first (those persisted are loaded by open()). */
  queued(): QueuedWrite[];
  /** Appends a write to the outbox. */
  enqueue(write: QueuedWrite): void;
  /** Removes a write from the outbox once the server answered it (or refused it for good). */
  dequeue(txid: string): void;
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
  readonly #outbox = new Map<string, QueuedWrite>();
  #epoch: string | undefined;

  queued(): QueuedWrite[] {
    return [...this.#outbox.values()];
  }

  enqueue(write: QueuedWrite): void {
    this.#outbox.set(write.txid, write);
  }

  dequeue(txid: string): void {
    this.#outbox.delete(txid);
  }

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

/**
 * A Cache whose reads are served from memory (a MemoryStore). The memory cache is just that; the
 * IndexedDB cache extends it and also writes each change through to the database.
 */
export abstract class MemoryBackedCache implements Cache {
  protected readonly store = new MemoryStore();
  onError: ((err: Error) => void) | undefined;

  abstract open(): Promise<void>;
  abstract flush(): Promise<void>;
  abstract close(): Promise<void>;

  get(collection: string, key: string): CachedRecord | undefined {
    return this.store.get(collection, key);
  }
  entries(collection: string): Array<[string, CachedRecord]> {
    return this.store.entries(collection);
  }
  collections(): string[] {
    return this.store.collections();
  }
  cursor(collection: string): number {
    return this.store.cursor(collection);
  }
  epoch(): string | undefined {
    return this.store.epoch();
  }
  queued(): QueuedWrite[] {
    return this.store.queued();
  }
  write(collection: string, records: readonly CacheEntry[], cursor?: number): void {
    this.store.write(collection, records, cursor);
  }
  clear(collection: string): void {
    this.store.clear(collection);
  }
  reset(epoch: string): void {
    this.store.reset(epoch);
  }
  enqueue(write: QueuedWrite): void {
    this.store.enqueue(write);
  }
  dequeue(txid: string): void {
    this.store.dequeue(txid);
  }
}

class MemoryCache extends MemoryBackedCache {
  open(): Promise<void> {
    return Promise.resolve();
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
