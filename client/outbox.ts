/**
 * The outbox: local writes waiting for the server, oldest first. It is what makes the client
 * offline-first:
 *
 * - A write is applied to what the client reads at once (an overlay over the server's records in the
 *   cache) and queued in the cache's outbox (IndexedDB for indexedDbCache: it survives a reload).
 * - While connected, the queue is sent in order, one commit at a time (so a write conditional on an
 *   earlier one of the same key can name the rev that one got). Each commit carries a txid: when the
 *   answer is lost with the connection, the commit is sent again with the same txid and the server
 *   answers it with the first result instead of applying it twice.
 * - When the answer comes, the write leaves the queue and the overlay; the cache holds the server's
 *   state: the write's values, or, for a conflict, the server's state ('conflict' event).
 * - A write the server refuses for good (bad_request, too_large, quota_exceeded, forbidden) is dropped:
 *   its promise rejects, an 'error' event (WriteRejectedError) says so, and reads show the server's state again.
 *   `rate_limited` and `internal` are retried with a growing delay.
 */
import type { Cache, CachedRecord, QueuedChange, QueuedWrite } from './cache.js';
import { decodeFrame, encodeFrame } from './codec.js';
import type { CollectionSync } from './collections.js';
import { OfflineError, QueueFullError, ServerError, SyncError, WriteRejectedError } from './errors.js';
import type { ChangeEvent, ChangeInput, ClientLogger, CommitResult } from './types.js';

/** Server codes worth sending the same commit again for (later): the others mean it can never succeed. */
const RETRY_CODES: ReadonlySet<string> = new Set(['rate_limited', 'internal']);
const RETRY_MIN_MS = 500;
const RETRY_MAX_MS = 30_000;

export const OUTBOX_DEFAULTS = { maxPendingWrites: 10_000 } as const;

export interface OutboxEvents {
  /** The visible state of a key changed because of the outbox (a write made, settled or dropped). */
  change(event: ChangeEvent): void;
  /** The number of pending writes changed. */
  pending(count: number): void;
  error(err: SyncError): void;
}

interface Entry {
  write: QueuedWrite;
  /** Set for writes made by this client instance (not for those loaded from the cache). */
  readonly waiter?: { resolve(result: CommitResult): void; reject(err: Error): void };
}

/** The latest queued change of one key, and how many queued writes touch the key. */
interface Overlay {
  readonly change: QueuedChange;
  readonly writes: number;
}

export class Outbox {
  readonly #cache: Cache;
  readonly #collections: CollectionSync;
  readonly #events: OutboxEvents;
  readonly #log: ClientLogger;
  readonly #isOnline: () => boolean;
  readonly #maxPending: number;
  #queue: Entry[] = [];
  /** collection -> key -> overlay. */
  readonly #overlay = new Map<string, Map<string, Overlay>>();
  /** collection\0key -> the base a chained write of that key takes (the rev its previous write got, or a stale base after a conflict). */
  readonly #chainBase = new Map<string, number>();
  #ready = false;
  #sending = false;
  #closed = false;
  #retryTimer: ReturnType<typeof setTimeout> | undefined;
  #retryDelay = RETRY_MIN_MS;

  constructor(cache: Cache, collections: CollectionSync, events: OutboxEvents, log: ClientLogger, isOnline: () => boolean, maxPending: number) {
    this.#cache = cache;
    this.#collections = collections;
    this.#events = events;
    this.#log = log;
    this.#isOnline = isOnline;
    this.#maxPending = maxPending;
  }

  /** Writes waiting for the server's answer (those loaded from the cache included). */
  get size(): number {
    return this.#queue.length;
  }

  /**
   * The cache is open: writes it kept (from an earlier page or process) go first, then those made
   * before it opened, which are now persisted.
   */
  load(): void {
    const stored = this.#cache.queued().map((write): Entry => ({ write }));
    const early = this.#queue;
    this.#queue = [...stored, ...early];
    for (const e of early) this.#cache.enqueue(e.write);
    this.#ready = true;
    for (const { write } of stored) {
      this.#collections.remember(write.collection);
      for (const c of write.changes) this.#overlayAdd(write.collection, c);
    }
    for (const { write } of stored) for (const c of write.changes) this.#emitVisible(write.collection, c.key, 'local');
    if (stored.length > 0) {
      this.#log.info({ writes: stored.length }, 'writes queued by an earlier session will be sent');
      this.#events.pending(this.#queue.length);
    }
    this.pump();
  }

  /** Whether `key` has a write not yet acknowledged. */
  has(collection: string, key: string): boolean {
    return this.#overlay.get(collection)?.has(key) ?? false;
  }

  /** What reads show for `key` while it has a pending write: the write's value over the server's rev. */
  read(collection: string, key: string): CachedRecord | undefined {
    const o = this.#overlay.get(collection)?.get(key);
    if (!o) return undefined;
    const rev = this.#cache.get(collection, key)?.rev ?? 0;
    return o.change.deleted ? { rev, deleted: true, pending: true } : { value: o.change.value, rev, deleted: false, pending: true };
  }

  /** Keys of `collection` with pending writes, in the order they were first written. */
  keys(collection: string): string[] {
    return [...(this.#overlay.get(collection)?.keys() ?? [])];
  }

  /**
   * Queues a write and applies it to reads at once ('change' events, pending). The promise resolves
   * with the server's answer; it is marked handled, so a caller that does not await it causes no
   * unhandled rejection (a refused write is also reported as an 'error' event).
   */
  add(collection: string, changes: readonly QueuedChange[]): Promise<CommitResult> {
    if (this.#closed) return handled(Promise.reject(new OfflineError('this client was closed; create a new one')));
    if (this.#queue.length >= this.#maxPending) {
      return handled(Promise.reject(new QueueFullError(`${this.#queue.length} writes already wait for the server (maxPendingWrites); wait for some to be sent`)));
    }
    let write: QueuedWrite;
    try {
      write = { txid: newTxid(), collection, changes: changes.map(checked), queuedAt: Date.now() };
    } catch (err) {
      return handled(Promise.reject(err));
    }
    const promise = new Promise<CommitResult>((resolve, reject) => {
      this.#queue.push({ write, waiter: { resolve, reject } });
    });
    if (this.#ready) this.#cache.enqueue(write);
    for (const c of write.changes) this.#overlayAdd(collection, c);
    for (const c of write.changes) this.#emitVisible(collection, c.key, 'local');
    this.#events.pending(this.#queue.length);
    this.pump();
    return handled(promise);
  }

  /** Sends the head of the queue when connected and nothing is in flight. Called on every connect too. */
  pump(): void {
    if (!this.#ready || this.#sending || this.#closed || this.#retryTimer !== undefined) return;
    const head = this.#queue[0];
    if (!head || !this.#isOnline()) return;
    this.#sending = true;
    const { write } = head;
    const changes = write.changes.map((c) => this.#toInput(write.collection, c));
    this.#collections.commit(write.collection, changes, write.txid).then(
      (result) => {
        this.#sending = false;
        this.#retryDelay = RETRY_MIN_MS;
        this.#settle(head, changes, result);
        this.pump();
      },
      (err: unknown) => {
        this.#sending = false;
        this.#failed(head, err);
      },
    );
  }

  /**
   * The server's store changed (another storage epoch): revs the queued writes are conditional on mean
   * nothing there. Creates (base 0) stay conditional; other writes are sent unconditionally.
   */
  epochChanged(): void {
    this.#chainBase.clear();
    for (const entry of this.#queue) {
      entry.write = { ...entry.write, changes: entry.write.changes.map((c) => (c.base === 0 && !c.chained ? c : unconditional(c))) };
    }
  }

  /** Stops sending; writes of this instance reject with OfflineError (they stay in a persistent cache). */
  close(): void {
    this.#closed = true;
    clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
    const left = this.#queue.length;
    for (const e of this.#queue) {
      e.waiter?.reject(new OfflineError(`the client was closed before the server acknowledged this write; ${left} write(s) stay queued in the cache and are sent by the next client opened on it (none with a memory cache)`));
    }
  }

  #toInput(collection: string, c: QueuedChange): ChangeInput {
    let base = c.base;
    if (c.chained) base = this.#chainBase.get(localKey(collection, c.key)) ?? this.#cache.get(collection, c.key)?.rev ?? 0;
    if (c.deleted) return base === undefined ? { key: c.key, deleted: true } : { key: c.key, deleted: true, base };
    return base === undefined ? { key: c.key, value: c.value } : { key: c.key, value: c.value, base };
  }

  #settle(entry: Entry, sent: readonly ChangeInput[], result: CommitResult): void {
    const { write } = entry;
    this.#remove(entry);
    const conflicted = new Set(result.conflicts.map((c) => c.key));
    for (const c of sent) {
      const id = localKey(write.collection, c.key);
      // What a later `ifRev: true` write of this key, queued behind this one, is conditional on. Kept
      // only while such a write may exist: a write made when none is queued takes the cached rev.
      if (!this.has(write.collection, c.key)) this.#chainBase.delete(id);
      else if (conflicted.has(c.key)) this.#chainBase.set(id, c.base ?? 0);
      else this.#chainBase.set(id, this.#cache.get(write.collection, c.key)?.rev ?? 0);
    }
    this.#afterRemoval(write, (key) => (conflicted.has(key) ? 'remote' : 'local'));
    entry.waiter?.resolve(result);
  }

  #failed(entry: Entry, err: unknown): void {
    if (this.#closed) return;
    const code = err instanceof ServerError ? err.code : undefined;
    if (code !== undefined && !RETRY_CODES.has(code)) {
      // Refused for good: drop it, or it would block every write behind it.
      const { write } = entry;
      this.#remove(entry);
      this.#afterRemoval(write, () => 'remote');
      const rejected = new WriteRejectedError(write.txid, write.collection, write.changes.map((c) => c.key), code, err as ServerError);
      this.#log.warn({ txid: write.txid, collection: write.collection, code }, 'the server refused a queued write; dropped it');
      entry.waiter?.reject(err as ServerError);
      this.#events.error(rejected);
      this.pump();
      return;
    }
    // The connection went away (the next connect sends it again, same txid), or the server is busy.
    const delay = code !== undefined ? this.#retryDelay : RETRY_MIN_MS;
    if (code !== undefined) this.#retryDelay = Math.min(RETRY_MAX_MS, this.#retryDelay * 2);
    this.#log.debug({ txid: entry.write.txid, err: err instanceof Error ? err.message : String(err), retryInMs: delay }, 'a queued write will be sent again');
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = undefined;
      this.pump();
    }, delay);
  }

  #remove(entry: Entry): void {
    this.#queue = this.#queue.filter((e) => e !== entry);
    this.#cache.dequeue(entry.write.txid);
    for (const c of entry.write.changes) this.#overlayRemove(entry.write.collection, c.key);
  }

  /** After a write left the queue: tell listeners what each of its keys shows now. */
  #afterRemoval(write: QueuedWrite, origin: (key: string) => 'local' | 'remote'): void {
    const seen = new Set<string>();
    for (const c of write.changes) {
      if (seen.has(c.key)) continue;
      seen.add(c.key);
      this.#emitVisible(write.collection, c.key, origin(c.key));
    }
    this.#events.pending(this.#queue.length);
  }

  #overlayAdd(collection: string, change: QueuedChange): void {
    let map = this.#overlay.get(collection);
    if (!map) this.#overlay.set(collection, (map = new Map()));
    const writes = (map.get(change.key)?.writes ?? 0) + 1;
    map.set(change.key, { change, writes });
  }

  /** One write of `key` left the queue: the overlay shows the latest write still queued, if any. */
  #overlayRemove(collection: string, key: string): void {
    const map = this.#overlay.get(collection);
    const o = map?.get(key);
    if (!map || !o) return;
    if (o.writes <= 1) {
      map.delete(key);
      if (map.size === 0) this.#overlay.delete(collection);
    } else map.set(key, { change: o.change, writes: o.writes - 1 });
  }

  #emitVisible(collection: string, key: string, origin: 'local' | 'remote'): void {
    const pending = this.read(collection, key);
    const record = pending ?? this.#cache.get(collection, key);
    const rev = record?.rev ?? 0;
    const event: ChangeEvent = !record || record.deleted
      ? { collection, key, deleted: true, rev, origin }
      : { collection, key, value: record.value, deleted: false, rev, origin };
    this.#events.change(pending ? { ...event, pending: true } : event);
  }
}

function localKey(collection: string, key: string): string {
  return `${collection}\0${key}`;
}

function unconditional(c: QueuedChange): QueuedChange {
  return c.deleted ? { key: c.key, deleted: true } : { key: c.key, value: c.value, deleted: false };
}

/** Validates a change and stores its value as every device will read it back (a MessagePack round trip). */
function checked(c: QueuedChange): QueuedChange {
  if (typeof c.key !== 'string' || c.key.length === 0) throw new TypeError('every change needs a non-empty string key');
  if (c.base !== undefined && (!Number.isSafeInteger(c.base) || c.base < 0)) throw new TypeError(`base of '${c.key}' must be a rev (a non-negative integer)`);
  const extra = { ...(c.base !== undefined ? { base: c.base } : {}), ...(c.chained ? { chained: true } : {}) };
  return c.deleted ? { key: c.key, deleted: true, ...extra } : { key: c.key, value: decodeFrame(encodeFrame(c.value)), deleted: false, ...extra };
}

/** 128 random bits as hex: getRandomValues works in insecure browser contexts too (randomUUID does not). */
function newTxid(): string {
  const bytes = new Uint8Array(16);
  globalThis.crypto.getRandomValues(bytes);
  let hex = '';
  for (const b of bytes) hex += b.toString(16).padStart(2, '0');
  return hex;
}

function handled<T>(p: Promise<T>): Promise<T> {
  p.catch(() => undefined);
  return p;
}
