/**
 * A cache kept in the browser's IndexedDB, so a reloaded page shows its data at once and pulls only
 * what changed since its cursor. Reads come from memory (loaded by open()); writes go to memory at
 * once and to IndexedDB in the background, one transaction per write (records and cursor together).
 *
 * Use one database name per user and device (say `syncmesh-${userId}-${deviceId}`): the cache holds
 * exactly one user's data.
 */
import { MemoryBackedCache, toRecord, type Cache, type CacheEntry, type CachedRecord, type QueuedWrite } from './cache.js';
import { CacheStorageError } from './errors.js';

const RECORDS = 'records';
const CURSORS = 'cursors';
/** Facts about the whole cache; key `epoch`: the storage epoch the records belong to. */
const META = 'meta';
const EPOCH_KEY = 'epoch';
/** The write queue: QueuedWrite values under increasing integer keys (their order). */
const OUTBOX = 'outbox';
/**
 * 2 added META, 3 added OUTBOX; an older database is upgraded in place (its records are kept, its
 * epoch unknown until the next welcome).
 */
const VERSION = 3;

function request<T>(req: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error ?? new Error('IndexedDB request failed'));
  });
}

function done(tx: IDBTransaction): Promise<void> {
  return new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve();
    tx.onerror = () => reject(tx.error ?? new Error('IndexedDB transaction failed'));
    tx.onabort = () => reject(tx.error ?? new Error('IndexedDB transaction aborted'));
  });
}

class IndexedDbCache extends MemoryBackedCache {
  readonly #name: string;
  readonly #factory: IDBFactory;
  #db: IDBDatabase | undefined;
  #opening: Promise<void> | undefined;
  /** Background writes, chained so flush() waits for all of them in order. */
  #tail: Promise<void> = Promise.resolve();
  #failure: Error | undefined;
  #memoryOnly = false;
  /** txid -> its key in OUTBOX. */
  readonly #outboxKeys = new Map<string, number>();
  #nextOutboxKey = 1;
  constructor(name: string, factory: IDBFactory) {
    super();
    this.#name = name;
    this.#factory = factory;
  }

  open(): Promise<void> {
    return (this.#opening ??= this.#open());
  }

  async #open(): Promise<void> {
    const req = this.#factory.open(this.#name, VERSION);
    req.onupgradeneeded = () => {
      const db = req.result;
      // Records are keyed [collection, key]; cursors by collection name.
      if (!db.objectStoreNames.contains(RECORDS)) db.createObjectStore(RECORDS);
      if (!db.objectStoreNames.contains(CURSORS)) db.createObjectStore(CURSORS);
      if (!db.objectStoreNames.contains(META)) db.createObjectStore(META);
      if (!db.objectStoreNames.contains(OUTBOX)) db.createObjectStore(OUTBOX);
    };
    let db: IDBDatabase;
    try {
      db = await request(req);
    } catch (err) {
      // From here on the cache works from memory only; the failure is reported once, here.
      this.#memoryOnly = true;
      throw new CacheStorageError(`cannot open IndexedDB database '${this.#name}' (private mode or storage disabled?): ${String(err)}`, { cause: err });
    }
    const tx = db.transaction([RECORDS, CURSORS, META, OUTBOX], 'readonly');
    const [keys, values, cursorKeys, cursorValues, epoch, outboxKeys, outboxValues] = await Promise.all([
      request(tx.objectStore(RECORDS).getAllKeys()),
      request(tx.objectStore(RECORDS).getAll() as IDBRequest<CachedRecord[]>),
      request(tx.objectStore(CURSORS).getAllKeys()),
      request(tx.objectStore(CURSORS).getAll() as IDBRequest<number[]>),
      request(tx.objectStore(META).get(EPOCH_KEY) as IDBRequest<unknown>),
      request(tx.objectStore(OUTBOX).getAllKeys()),
      request(tx.objectStore(OUTBOX).getAll() as IDBRequest<QueuedWrite[]>),
    ]);
    // Before the records: reset() empties the store, and what follows fills it again.
    if (typeof epoch === 'string') this.store.reset(epoch);
    // getAll and getAllKeys of one store in one transaction list the same records in the same order.
    const byCollection = new Map<string, CacheEntry[]>();
    keys.forEach((k, i) => {
      const record = values[i];
      if (!Array.isArray(k) || typeof k[0] !== 'string' || typeof k[1] !== 'string' || !record) return;
      let list = byCollection.get(k[0]);
      if (!list) byCollection.set(k[0], (list = []));
      list.push({ key: k[1], ...toRecord(record) });
    });
    for (const [collection, list] of byCollection) this.store.write(collection, list);
    cursorKeys.forEach((k, i) => {
      const cursor = cursorValues[i];
      if (typeof k === 'string' && typeof cursor === 'number') this.store.write(k, [], cursor);
    });
    // Keys come sorted (numbers, ascending): the order the writes were made in.
    outboxKeys.forEach((k, i) => {
      const write = outboxValues[i];
      if (typeof k !== 'number' || !isQueuedWrite(write)) return;
      this.#outboxKeys.set(write.txid, k);
      this.#nextOutboxKey = Math.max(this.#nextOutboxKey, k + 1);
      this.store.enqueue(write);
    });
    this.#db = db;
  }

  override write(collection: string, records: readonly CacheEntry[], cursor?: number): void {
    super.write(collection, records, cursor);
    const stored = records.map((r) => ({ key: r.key, record: toRecord(r) }));
    this.#persist((db) => {
      const tx = db.transaction([RECORDS, CURSORS], 'readwrite');
      const rs = tx.objectStore(RECORDS);
      for (const { key, record } of stored) rs.put(record, [collection, key]);
      if (cursor !== undefined) tx.objectStore(CURSORS).put(cursor, collection);
      return done(tx);
    });
  }

  override clear(collection: string): void {
    const keys = this.entries(collection).map(([key]) => key);
    super.clear(collection);
    this.#persist((db) => {
      const tx = db.transaction([RECORDS, CURSORS], 'readwrite');
      const rs = tx.objectStore(RECORDS);
      for (const key of keys) rs.delete([collection, key]);
      tx.objectStore(CURSORS).delete(collection);
      return done(tx);
    });
  }

  override reset(epoch: string): void {
    super.reset(epoch);
    this.#persist((db) => {
      const tx = db.transaction([RECORDS, CURSORS, META], 'readwrite');
      tx.objectStore(RECORDS).clear();
      tx.objectStore(CURSORS).clear();
      tx.objectStore(META).put(epoch, EPOCH_KEY);
      return done(tx);
    });
  }

  override enqueue(write: QueuedWrite): void {
    super.enqueue(write);
    const key = this.#nextOutboxKey++;
    this.#outboxKeys.set(write.txid, key);
    this.#persist((db) => {
      const tx = db.transaction([OUTBOX], 'readwrite');
      tx.objectStore(OUTBOX).put(write, key);
      return done(tx);
    });
  }

  override dequeue(txid: string): void {
    super.dequeue(txid);
    const key = this.#outboxKeys.get(txid);
    if (key === undefined) return;
    this.#outboxKeys.delete(txid);
    this.#persist((db) => {
      const tx = db.transaction([OUTBOX], 'readwrite');
      tx.objectStore(OUTBOX).delete(key);
      return done(tx);
    });
  }

  #persist(step: (db: IDBDatabase) => Promise<void>): void {
    const db = this.#db;
    if (!db) {
      if (this.#memoryOnly) return;
      this.#fail(new CacheStorageError('the IndexedDB cache was written before open() finished or after close()'));
      return;
    }
    this.#tail = this.#tail.then(() =>
      step(db).catch((err: unknown) => this.#fail(new CacheStorageError(`writing the IndexedDB cache '${this.#name}' failed (storage full?): ${String(err)}`, { cause: err }))),
    );
  }

  #fail(err: Error): void {
    this.#failure ??= err;
    this.onError?.(err);
  }

  async flush(): Promise<void> {
    await this.#tail;
    if (this.#failure) throw this.#failure;
  }

  async close(): Promise<void> {
    await this.#tail;
    this.#db?.close();
    this.#db = undefined;
  }
}

function isQueuedWrite(v: unknown): v is QueuedWrite {
  const w = v as Partial<QueuedWrite> | undefined;
  return typeof w === 'object' && w !== null && typeof w.txid === 'string' && typeof w.collection === 'string' && Array.isArray(w.changes);
}

/**
 * A cache persisted in IndexedDB database `name`. `factory` defaults to `globalThis.indexedDB`
 * (pass another IDBFactory to run elsewhere).
 */
export function indexedDbCache(name: string, factory?: IDBFactory): Cache {
  const idb = factory ?? (globalThis as { indexedDB?: IDBFactory }).indexedDB;
  if (!idb) throw new CacheStorageError('indexedDbCache needs IndexedDB, which this environment lacks: use memoryCache() instead');
  return new IndexedDbCache(name, idb);
}
