/**
 * Commit: write a batch of changes to one collection of one user.
 *
 * Contract:
 * - Every change is checked before anything is written; one bad change fails the whole commit with
 *   bad_request or too_large and writes nothing.
 * - Changes are evaluated in order against the collection's current state. A change with `base` is
 *   applied only if the key's current revision equals `base`; `base: 0` means "the key does not
 *   exist" (never existed, or its latest state is a tombstone). A stale change is not applied and
 *   comes back in `conflicts` with the key's current state (`{key, rev: 0, deleted: true}` for a key
 *   that never existed).
 * - A commit is atomic: the changes become visible together, when the collection's index is written,
 *   or none does. Steps: (1) a new collection is added to the user's index (collections quota);
 *   (2) the final state of each changed key that does not fit inline (limits.inlineCollectionBytes)
 *   is appended to the record stream (one version per key, in the order of its last change); (3) the
 *   collection index naming the new versions, and holding the inline ones, is written,
 *   compare-and-set on the index's last sequence; (4) replaced versions are deleted in the background.
 *   A commit of small values to a small collection is thus one JetStream write.
 *   A crash or a lost fence between (2) and (3) leaves versions no index names: invisible, and the
 *   client's retry writes them again (with a `txid`, a retry of a commit that did land answers its
 *   result instead). See README.md "Fenced writes".
 * - Revisions count per collection: the written keys take the next revisions after the collection's,
 *   in the order of their last change.
 * - Quotas (limits.ts): keys per collection, bytes per user, collections per user; a commit over one
 *   fails with quota_exceeded and writes nothing. A commit that shrinks usage always passes.
 * - `rev` is the highest revision written, or, when nothing was written, the collection's latest
 *   revision (so it never goes backwards).
 * - `txid`: a commit carrying the txid of one of the collection's last `txidWindow` commits answers
 *   that commit's `rev`, with the current state of the keys that conflicted then, and applies nothing.
 */
import { ownBytes, ownString } from '../../protocol/mod.js';
import type { Change, CommitResult, Record_ } from '../messages.js';
import { INLINE_SYNC_MAX_BYTES, INLINE_SYNC_MAX_CHANGES } from '../../protocol/mod.js';
import { register } from './commands.js';
import { discard, type StoreContext } from './context.js';
import { BadRequestError, QuotaExceededError, StaleWriteError, StoreUnavailableError, TooLargeError } from './errors.js';
import { collectionIndex, encodeCollection, encodeUser, inlineCost, keyHash, txidHash, type CollectionIndex, type InlineValue, type KeyEntry, type TxRecord } from './index-codec.js';
import { versionToken } from './layout.js';
import { entryRecords, TOMBSTONE } from './records.js';
import { storedSize } from './room.js';
import type { UserState } from './user-state.js';
import { encodeLimited, optionalName, requireName, requireRev } from './validate.js';
import { append, writeIndex } from './writes.js';

/** What commit() reads from a CommitRequest. */
export interface CommitInput {
  readonly userId: string;
  readonly collection: string;
  readonly changes: readonly Change[];
  readonly txid?: string | undefined;
  /** The committing device (from a session): it becomes a known device of the user (commands.ts). */
  readonly deviceId?: string | undefined;
}

const MAX_TXID_LENGTH = 64;

interface Checked {
  readonly key: string;
  readonly hash: string;
  readonly payload: Uint8Array;
  /** The value as sent (undefined for a delete), for the sync that carries small commits. */
  readonly value: unknown;
  readonly base: number | undefined;
}

/**
 * What commit() answers, and for the push the records it wrote, when they are few and small enough to
 * ride in the sync (protocol SyncFrame `from` and `changes`).
 */
export interface CommitOutcome extends CommitResult {
  readonly written?: { readonly from: number; readonly changes: Record_[] };
  /** The user's known devices when the commit was applied: its `sync` goes to each (devices.ts). */
  readonly devices: readonly string[];
}

function checkChanges(ctx: StoreContext, input: CommitInput): { userId: string; collection: string; txid: string | undefined; changes: Checked[] } {
  const { limits } = ctx;
  const userId = requireName('userId', input.userId, limits.maxIdBytes);
  const collection = requireName('collection', input.collection, limits.maxCollectionBytes);
  let txid: string | undefined;
  if (input.txid !== undefined && input.txid !== null) {
    if (typeof input.txid !== 'string' || input.txid.length === 0 || input.txid.length > MAX_TXID_LENGTH) {
      throw new BadRequestError(`txid must be a string of 1 to ${MAX_TXID_LENGTH} characters`);
    }
    txid = input.txid;
  }
  if (!Array.isArray(input.changes)) throw new BadRequestError('changes must be an array');
  const changes: readonly unknown[] = input.changes;
  if (changes.length > limits.maxChanges) {
    throw new TooLargeError(`a commit holds at most ${limits.maxChanges} changes, this one has ${changes.length}; split it`);
  }
  let total = 0;
  const checked = changes.map((raw, i): Checked => {
    if (raw === null || typeof raw !== 'object') throw new BadRequestError(`changes[${i}] must be a map with a key`);
    const c = raw as { key?: unknown; value?: unknown; deleted?: unknown; base?: unknown };
    const key = requireName(`changes[${i}].key`, c.key, limits.maxKeyBytes);
    if (c.deleted !== undefined && c.deleted !== null && typeof c.deleted !== 'boolean') {
      throw new BadRequestError(`changes[${i}].deleted must be true or false`);
    }
    const base = c.base === undefined || c.base === null ? undefined : requireRev(`changes[${i}].base`, c.base);
    let payload: Uint8Array;
    if (c.deleted === true) {
      if (c.value !== undefined && c.value !== null) throw new BadRequestError(`changes[${i}] (key ${JSON.stringify(key)}) has both a value and deleted:true; send one`);
      payload = TOMBSTONE;
    } else {
      if (c.value === undefined) throw new BadRequestError(`changes[${i}] (key ${JSON.stringify(key)}) has neither a value nor deleted:true`);
      payload = encodeLimited(`the value of key ${JSON.stringify(key)}`, c.value, limits.maxValueBytes);
    }
    total += payload.length;
    return { key, hash: keyHash(key), payload, value: c.deleted === true ? undefined : c.value, base };
  });
  if (total > limits.maxCommitBytes) {
    throw new TooLargeError(`the values of this commit are ${total} bytes encoded; the limit is ${limits.maxCommitBytes} bytes; split it`);
  }
  return { userId, collection, txid, changes: checked };
}

/** A key's state during evaluation: stored (a revision) or written earlier in this commit. */
type Working = { stored: KeyEntry } | { pending: Uint8Array };

interface Evaluation {
  /** Final state per changed key, in the order of each key's last applied change. */
  readonly writes: { key: string; hash: string; payload: Uint8Array; value: unknown }[];
  /** Keys whose change conflicted, with the stored entry to report (undefined: never existed). */
  readonly conflicts: { key: string; entry: KeyEntry | undefined }[];
}

function evaluate(index: CollectionIndex, changes: readonly Checked[]): Evaluation {
  const working = new Map<string, Working>();
  const state = (hash: string): Working | undefined => {
    const w = working.get(hash);
    if (w !== undefined) return w;
    const stored = index.byHash.get(hash);
    return stored === undefined ? undefined : { stored };
  };
  const last = new Map<string, { key: string; hash: string; payload: Uint8Array; value: unknown }>();
  const conflicts: Evaluation['conflicts'] = [];
  for (const c of changes) {
    const cur = state(c.hash);
    if (c.base !== undefined) {
      const exists = cur !== undefined && ('pending' in cur ? cur.pending.length > 0 : cur.stored.size > 0);
      // A key written earlier in this commit has no revision a client could know: only base 0 can match it.
      const ok = c.base === 0 ? !exists : cur !== undefined && 'stored' in cur && cur.stored.rev === c.base;
      if (!ok) {
        conflicts.push({ key: c.key, entry: index.byHash.get(c.hash) });
        continue;
      }
    }
    working.set(c.hash, { pending: c.payload });
    last.delete(c.hash);
    last.set(c.hash, { key: c.key, hash: c.hash, payload: c.payload, value: c.value });
  }
  return { writes: [...last.values()], conflicts };
}

async function conflictRecords(ctx: StoreContext, conflicts: Evaluation['conflicts']): Promise<Record_[]> {
  const stored = conflicts.flatMap((c) => (c.entry === undefined ? [] : [c.entry]));
  const records = await entryRecords(ctx.records, ctx.layout, stored);
  if (records === null) throw new StoreUnavailableError('a record of a conflicting key is missing; the index changed meanwhile, retry the commit');
  let next = 0;
  return conflicts.map(({ key, entry }): Record_ => (entry === undefined ? { key, rev: 0, deleted: true } : records[next++]!));
}

/** Bytes of every collection of the user (loads the indexes not yet cached). */
async function userBytes(s: UserState): Promise<number> {
  const user = await s.user();
  const all = await Promise.all(user.collections.map((c) => s.collection(c)));
  return all.reduce((sum, c) => sum + c.bytes, 0);
}

async function checkQuotas(ctx: StoreContext, s: UserState, index: CollectionIndex, writes: Evaluation['writes']): Promise<void> {
  const { limits } = ctx;
  let added = 0;
  let delta = 0;
  for (const w of writes) {
    const old = index.byHash.get(w.hash);
    if (old === undefined) added++;
    delta += w.payload.length - (old?.size ?? 0);
  }
  const keys = index.entries.length + added;
  if (added > 0 && keys > limits.maxKeysPerCollection) {
    throw new QuotaExceededError(
      `this commit would make the collection hold ${keys} keys; the quota is ${limits.maxKeysPerCollection} keys per collection (deleted keys count). Use another collection, or write fewer new keys`,
    );
  }
  if (delta > 0) {
    const before = await userBytes(s);
    if (before + delta > limits.maxUserBytes) {
      throw new QuotaExceededError(
        `this commit would make this user's data ${before + delta} bytes; the quota is ${limits.maxUserBytes} bytes per user. Delete or shrink values first`,
      );
    }
  }
}

/** Adds the collection to the user's index if it is new there (collections quota). */
async function registerCollection(ctx: StoreContext, s: UserState, collection: string): Promise<void> {
  const user = await s.user();
  if (user.collections.includes(collection)) return;
  if (user.collections.length >= ctx.limits.maxCollectionsPerUser) {
    throw new QuotaExceededError(`this user already has ${user.collections.length} collections; the quota is ${ctx.limits.maxCollectionsPerUser} collections per user. Write to an existing collection`);
  }
  const next = { collections: [...user.collections, ownString(collection)], devices: user.devices };
  const seq = await writeIndex(ctx, "the user's index", ctx.layout.userIndex(s.userId), encodeUser(next), user.seq);
  s.setUser({ ...next, seq });
}

async function replay(ctx: StoreContext, index: CollectionIndex, tx: TxRecord): Promise<CommitResult> {
  const conflicts = await conflictRecords(
    ctx,
    tx.conflicts.map((key) => ({ key, entry: index.byHash.get(keyHash(key)) })),
  );
  return { rev: tx.rev, conflicts };
}

async function commitIn(ctx: StoreContext, s: UserState, collection: string, txid: string | undefined, changes: readonly Checked[]): Promise<Omit<CommitOutcome, 'devices'>> {
  const { layout, limits } = ctx;
  const index = await s.collection(collection);
  const hash = txid === undefined ? undefined : txidHash(txid);
  if (hash !== undefined) {
    const done = index.txids.find((t) => t.hash === hash);
    if (done) return replay(ctx, index, done);
  }
  const { writes, conflicts } = evaluate(index, changes);
  const conflicted = await conflictRecords(ctx, conflicts);
  if (writes.length === 0 && (txid === undefined || index.seq === 0)) {
    // Nothing to apply; a txid is remembered only in a collection that exists.
    return { rev: Math.max(index.rev, ...conflicted.map((c) => c.rev)), conflicts: conflicted };
  }
  await checkQuotas(ctx, s, index, writes);
  await registerCollection(ctx, s, collection);

  // (2) the new versions that do not fit inline. Appended back to back on one connection: JetStream applies them in order.
  const inline = placeInline(index, writes, limits.inlineCollectionBytes);
  const external = writes.flatMap((w, i) => (inline[i] === undefined ? [w] : []));
  const subjects = external.map((w) => layout.recordVersion(s.userId, collection, w.key, versionToken()));
  if (external.length > 0) {
    await ctx.rooms.records.take(
      external.reduce((sum, w, i) => sum + storedSize(subjects[i]!, w.payload.length), 0),
      `the ${external.length === 1 ? 'value' : `${external.length} values`} of this commit`,
    );
  }
  const settled = await Promise.allSettled(external.map((w, i) => append(ctx, `key ${JSON.stringify(w.key)}`, subjects[i]!, w.payload)));
  const written = settled.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) {
    discard(ctx, layout.recordStream, written, 'a commit failed before its index write');
    throw failed.reason;
  }
  let appended = 0;
  const fresh: KeyEntry[] = writes.map((w, i): KeyEntry => {
    const rev = index.rev + i + 1;
    const value = inline[i];
    return value !== undefined ? { hash: w.hash, rev, seq: 0, size: w.payload.length, inline: value } : { hash: w.hash, rev, seq: written[appended++]!, size: w.payload.length };
  });
  const replaced = new Set(writes.map((w) => w.hash));
  const entries = [...index.entries.filter((e) => !replaced.has(e.hash)), ...fresh];
  const rev = fresh.length > 0 ? fresh.at(-1)!.rev : Math.max(index.rev, ...conflicted.map((c) => c.rev));
  let txids = index.txids;
  // Own copies of the conflict keys: the cached index keeps them for the next txidWindow commits of the
  // collection, and a decoded string would keep the whole request's text alive that long (protocol ownString).
  if (hash !== undefined) txids = [...txids, { hash, rev, conflicts: conflicts.map((c) => ownString(c.key)) }].slice(-limits.txidWindow);

  // (3) the fence: written only if nobody wrote this index since we read it.
  let seq: number;
  try {
    seq = await writeIndex(ctx, `the index of collection ${JSON.stringify(collection)}`, layout.collectionIndex(s.userId, collection), encodeCollection({ rev: Math.max(rev, index.rev), entries, txids }), index.seq);
  } catch (err) {
    // Refused: the new versions are unreferenced. Unknown outcome (a timeout): they may be referenced, keep them.
    if (err instanceof StaleWriteError || err instanceof QuotaExceededError) discard(ctx, layout.recordStream, written, 'a commit lost its index write');
    throw err;
  }
  s.setCollection(collection, collectionIndex(seq, Math.max(rev, index.rev), entries, txids));
  // (4) replaced versions in the record stream: no index names them any more.
  const replacedSeqs = writes.flatMap((w) => index.byHash.get(w.hash)?.seq || []);
  discard(ctx, layout.recordStream, replacedSeqs, 'replaced by a commit');
  return { rev, conflicts: conflicted, ...inlineSync(index.rev, writes, fresh) };
}

/**
 * Which writes keep their value inline (undefined: the record stream): in order, each that fits the
 * collection's inline budget once the values it replaces are gone from it.
 */
function placeInline(index: CollectionIndex, writes: Evaluation['writes'], budget: number): (InlineValue | undefined)[] {
  let used = index.inlineBytes;
  for (const w of writes) {
    const old = index.byHash.get(w.hash)?.inline;
    if (old !== undefined) used -= inlineCost(old);
  }
  return writes.map((w) => {
    const cost = inlineCost(w);
    if (used + cost > budget) return undefined;
    used += cost;
    // Own copies: the cached index keeps them (protocol ownBytes, ownString).
    return { key: ownString(w.key), payload: ownBytes(w.payload) };
  });
}

/** The records a commit wrote, for its sync, when they are few and small (else the clients pull). */
function inlineSync(from: number, writes: Evaluation['writes'], fresh: readonly KeyEntry[]): Pick<CommitOutcome, 'written'> {
  if (writes.length === 0 || writes.length > INLINE_SYNC_MAX_CHANGES) return {};
  if (writes.reduce((n, w) => n + w.payload.length, 0) > INLINE_SYNC_MAX_BYTES) return {};
  const changes = writes
    .map((w, i): Record_ => (w.payload.length === 0 ? { key: w.key, rev: fresh[i]!.rev, deleted: true } : { key: w.key, rev: fresh[i]!.rev, value: w.value }));
  return { written: { from, changes } };
}

/** Applies the changes of `input`; see the contract above. */
export async function commit(ctx: StoreContext, input: CommitInput): Promise<CommitOutcome> {
  const { userId, collection, txid, changes } = checkChanges(ctx, input);
  const deviceId = optionalName('deviceId', input.deviceId, ctx.limits.maxIdBytes);
  return ctx.states.write(userId, async (s) => {
    if (deviceId !== undefined) await register(ctx, s, deviceId, true);
    const outcome = await commitIn(ctx, s, collection, txid, changes);
    return { ...outcome, devices: (await s.user()).devices };
  });
}
