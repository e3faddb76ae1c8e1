/**
 * Keeping the cache in step with the server, one collection at a time: cursors, pulls (coalesced per
 * collection, following `more`), and applying commit answers. Every cache write emits 'change' events.
 *
 * The one rule for the cache: a record replaces the cached one only when its rev is newer. So a pull
 * that races a commit, or a `sync` for a change this client already has, never moves a key backwards.
 * Revs only compare within one storage epoch: when the server names another epoch, resetTo() empties
 * the cache and every collection is pulled from 0 again.
 */
import type { Cache, CacheEntry } from './cache.js';
import { decodeFrame, encodeFrame, toSafeInteger } from './codec.js';
import { ProtocolError } from './errors.js';
import type { RequestTracker } from './requests.js';
import type { Frame } from './transport.js';
import type { ChangeEvent, ChangeInput, ClientLogger, CommitResult, ConflictEvent, ConflictRecord } from './types.js';

export interface CollectionEvents {
  change(event: ChangeEvent): void;
  conflict(event: ConflictEvent): void;
}

interface PullLoop {
  /** Set when someone asked for a pull while this loop ran: it pulls once more before it ends. */
  again: boolean;
  readonly done: Promise<void>;
}

export class CollectionSync {
  readonly #cache: Cache;
  readonly #tracker: RequestTracker;
  readonly #events: CollectionEvents;
  readonly #log: ClientLogger;
  readonly #ready: Promise<void>;
  readonly #known = new Set<string>();
  readonly #pulls = new Map<string, PullLoop>();
  /** Keys of this client's multi-key commits awaiting their pull: collection\0key -> the commit's rev. */
  readonly #localWrites = new Map<string, number>();
  /** Counts resets: a pull answer to a request built before the last reset is dropped. */
  #generation = 0;
  /** The cache is loaded (`ready` resolved): inline changes of a sync may be applied at once. */
  #loaded = false;

  /** `ready` resolves once the cache is loaded; nothing is pulled or applied before. */
  constructor(cache: Cache, tracker: RequestTracker, events: CollectionEvents, log: ClientLogger, ready: Promise<void>) {
    this.#cache = cache;
    this.#tracker = tracker;
    this.#events = events;
    this.#log = log;
    this.#ready = ready;
    ready.then(
      () => (this.#loaded = true),
      () => undefined,
    );
  }

  /** Collections pulled on every (re)connect: those named so far and those in the cache. */
  known(): string[] {
    return [...new Set([...this.#known, ...this.#cache.collections()])];
  }

  remember(collection: string): void {
    this.#known.add(collection);
  }

  /**
   * The server's store is not the one the cache was filled from (another storage epoch): forgets every
   * record and cursor, reports each key the application could see as deleted ('change', origin
   * 'remote', rev 0), and makes pulls already asked for start over from 0. The collections stay known,
   * so the next sync of each brings back what the store holds now ('change' events as usual).
   */
  resetTo(epoch: string): void {
    const dropped: Array<{ collection: string; key: string }> = [];
    for (const collection of this.#cache.collections()) {
      this.#known.add(collection);
      for (const [key, r] of this.#cache.entries(collection)) if (!r.deleted) dropped.push({ collection, key });
    }
    this.#generation++;
    this.#localWrites.clear();
    this.#cache.reset(epoch);
    for (const { collection, key } of dropped) this.#events.change({ collection, key, deleted: true, rev: 0, origin: 'remote' });
  }

  /**
   * The server says `collection` reached `rev`: pull unless the cursor is there already. A sync that
   * carries its commit's records (`inline`: the collection's rev just before the commit, and every
   * record it wrote) is applied at once, with no pull, when the cursor is exactly at that rev and no
   * pull of the collection is under way: nothing else can lie between the two revs.
   */
  onSyncFrame(collection: string, rev: number | undefined, inline?: { from: number; changes: ConflictRecord[] }): Promise<void> {
    const cursor = this.#cache.cursor(collection);
    if (rev !== undefined && rev <= cursor && !this.#pulls.has(collection)) return Promise.resolve();
    if (rev !== undefined && inline !== undefined && this.#loaded && inline.from === cursor && !this.#pulls.has(collection)) {
      this.#known.add(collection);
      this.#apply(collection, inline.changes, 'remote', rev);
      return Promise.resolve();
    }
    return this.sync(collection);
  }

  /** Pulls until caught up; concurrent calls for one collection share one loop. */
  sync(collection: string): Promise<void> {
    this.#known.add(collection);
    const running = this.#pulls.get(collection);
    if (running) {
      running.again = true;
      return running.done;
    }
    const loop: { again: boolean; done: Promise<void> } = { again: false, done: Promise.resolve() };
    loop.done = (async () => {
      try {
        await this.#ready;
        do {
          loop.again = false;
          await this.#pullToEnd(collection);
        } while (loop.again);
      } finally {
        this.#pulls.delete(collection);
      }
    })();
    this.#pulls.set(collection, loop);
    return loop.done;
  }

  async #pullToEnd(collection: string): Promise<void> {
    for (;;) {
      const since = this.#cache.cursor(collection);
      const generation = this.#generation;
      const answer = await this.#tracker.request({ t: 'pull', collection, since }, 'changes');
      // Asked with a cursor of the old epoch (queued while offline): its rev means nothing now.
      if (generation !== this.#generation) continue;
      const rev = toSafeInteger(answer.rev);
      const changes = parseRecords(answer.changes);
      if (rev === undefined || changes === undefined) throw new ProtocolError(`the server answered a pull of '${collection}' without a valid rev and changes list`);
      this.#apply(collection, changes, 'remote', rev);
      if (answer.more !== true) return;
      if (rev <= since) throw new ProtocolError(`the server answered a pull of '${collection}' with more:true but no progress past rev ${since}`);
    }
  }

  /**
   * Writes the records newer than the cache (and the cursor, when given) and emits their changes.
   * A pulled record that is this client's own multi-key commit (rev at most that commit's rev) is
   * reported as 'local'.
   */
  #apply(collection: string, records: readonly ConflictRecord[], origin: 'local' | 'remote', cursor?: number): CacheEntry[] {
    const fresh = records.filter((r) => {
      const cached = this.#cache.get(collection, r.key);
      return !cached || r.rev > cached.rev;
    });
    const nextCursor = cursor === undefined ? undefined : Math.max(cursor, this.#cache.cursor(collection));
    this.#cache.write(collection, fresh, nextCursor);
    for (const r of fresh) {
      const id = localKey(collection, r.key);
      const ownRev = this.#localWrites.get(id);
      if (ownRev !== undefined) this.#localWrites.delete(id);
      const o = ownRev !== undefined && r.rev <= ownRev ? 'local' : origin;
      this.#events.change(r.deleted
        ? { collection, key: r.key, deleted: true, rev: r.rev, origin: o }
        : { collection, key: r.key, value: r.value, deleted: false, rev: r.rev, origin: o });
    }
    return fresh;
  }

  /**
   * Commits `changes` and applies the answer to the cache. `txid` makes a resend after a lost answer
   * safe: the server answers it with the first result.
   */
  async commit(collection: string, changes: readonly ChangeInput[], txid?: string): Promise<CommitResult> {
    this.#known.add(collection);
    const wire = changes.map(toWire);
    await this.#ready;
    const frame = txid === undefined ? { t: 'commit', collection, changes: wire } : { t: 'commit', collection, changes: wire, txid };
    const answer = await this.#tracker.request(frame, 'committed');
    const { result, pullNeeded } = this.#applyCommitted(collection, changes, answer);
    if (pullNeeded) {
      // The commit is done whatever happens to this pull; a failed one is repeated on the next connection.
      await this.sync(collection).catch((err: unknown) => this.#log.debug({ err: String(err), collection }, 'pull after a commit failed'));
    }
    return result;
  }

  /**
   * Applies a commit answer. The answer carries one rev, the highest written: exact for a commit that
   * wrote one key, but an upper bound for the others when it wrote several (each change is its own
   * write). Caching a guessed rev would make a later `ifRev: true` conflict with itself, so such keys
   * are left to a pull (sent now, after the commit, so it returns them), which reports them as local.
   */
  #applyCommitted(collection: string, changes: readonly ChangeInput[], answer: Frame): { result: CommitResult; pullNeeded: boolean } {
    const rev = toSafeInteger(answer.rev);
    const conflicts = parseRecords(answer.conflicts ?? []);
    if (rev === undefined || conflicts === undefined) throw new ProtocolError(`the server answered a commit to '${collection}' without a valid rev and conflicts list`);
    // Within one commit the last change of a key wins, as on the server.
    const lastByKey = new Map<string, ChangeInput>();
    for (const c of changes) lastByKey.set(c.key, c);
    const conflicting = new Set(conflicts.map((c) => c.key));
    const applied: ConflictRecord[] = [];
    for (const [key, c] of lastByKey) {
      if (conflicting.has(key)) continue;
      // The value as every other device will read it back (MessagePack round trip: undefined -> null, ...).
      applied.push(c.deleted === true ? { key, rev, deleted: true } : { key, value: roundTrip(c.value), rev, deleted: false });
    }
    const pullNeeded = applied.length > 1;
    // The server's `from` (extension): when the commit followed the cursor directly, nothing else came in between.
    const from = toSafeInteger(answer.from);
    const follows = applied.length === 1 && from !== undefined && from === this.#cache.cursor(collection) && !this.#pulls.has(collection);
    if (pullNeeded) for (const r of applied) this.#localWrites.set(localKey(collection, r.key), rev);
    else this.#apply(collection, applied, 'local', follows ? rev : undefined);
    this.#apply(collection, conflicts, 'remote');
    for (const c of conflicts) {
      const attempted = lastByKey.get(c.key);
      if (attempted) this.#events.conflict({ collection, ...c, attempted });
    }
    return { result: { rev, conflicts }, pullNeeded };
  }
}

function localKey(collection: string, key: string): string {
  return `${collection}\0${key}`;
}

function toWire(c: ChangeInput): Record<string, unknown> {
  if (typeof c.key !== 'string' || c.key.length === 0) throw new TypeError('every change needs a non-empty string key');
  const wire: Record<string, unknown> = c.deleted === true ? { key: c.key, deleted: true } : { key: c.key, value: c.value };
  if (c.base !== undefined) {
    if (!Number.isSafeInteger(c.base) || c.base < 0) throw new TypeError(`base of '${c.key}' must be a rev (a non-negative integer)`);
    wire.base = c.base;
  }
  return wire;
}

function roundTrip(value: unknown): unknown {
  return decodeFrame(encodeFrame(value));
}

/** Reads `[{key, rev, value} or {key, rev, deleted:true}]` from the wire; undefined when malformed. */
export function parseRecords(list: unknown): ConflictRecord[] | undefined {
  if (!Array.isArray(list)) return undefined;
  const out: ConflictRecord[] = [];
  for (const item of list as unknown[]) {
    if (typeof item !== 'object' || item === null) return undefined;
    const r = item as { key?: unknown; rev?: unknown; value?: unknown; deleted?: unknown };
    const rev = toSafeInteger(r.rev);
    if (typeof r.key !== 'string' || rev === undefined) return undefined;
    out.push(r.deleted === true ? { key: r.key, rev, deleted: true } : { key: r.key, rev, value: r.value, deleted: false });
  }
  return out;
}
