/**
 * Commit: write a batch of changes to one collection of one user.
 *
 * Contract:
 * - Every change is checked before anything is written; one bad change fails the whole commit with
 *   bad_request or too_large and writes nothing.
 * - Changes are applied in order. A commit is not atomic across keys: each change is its own
 *   JetStream write, and if JetStream fails midway (the commit rejects with `internal`) the earlier
 *   changes may be stored. Retrying the commit is safe for unconditional changes.
 * - A change with `base` is written only if the key's current revision equals `base`, checked by
 *   JetStream itself (`Nats-Expected-Last-Subject-Sequence`), so two writers racing on one key can
 *   never both win. `base: 0` means "the key does not exist": a key that never existed or whose
 *   latest state is a tombstone. A stale change is not written and comes back in `conflicts` with
 *   the key's current state (`{key, rev: 0, deleted: true}` for a key that never existed).
 * - `rev` is the highest revision written, or, when nothing was written, the collection's latest
 *   revision (so it never goes backwards).
 */
import { JetStreamApiError, type PubAck } from '@nats-io/jetstream';
import type { Change, CommitResult, Record_ } from '../messages.js';
import { BadRequestError, StoreUnavailableError, TooLargeError } from './errors.js';
import { recordOf, TOMBSTONE, type DataContext } from './records.js';
import { retryTransient } from './retry.js';
import { encodeLimited, requireName, requireRev } from './validate.js';

/** What commit() reads from a CommitRequest. */
export interface CommitInput {
  readonly userId: string;
  readonly collection: string;
  readonly changes: readonly Change[];
}

const WRONG_LAST_SEQUENCE = 10071;

interface Write {
  readonly key: string;
  readonly subject: string;
  readonly payload: Uint8Array;
  readonly base: number | undefined;
}

type Outcome = { written: number } | { conflict: Record_ };

function checkChanges(ctx: DataContext, input: CommitInput): { userId: string; collection: string; writes: Write[] } {
  const { limits, layout } = ctx;
  const userId = requireName('userId', input.userId, limits.maxIdBytes);
  const collection = requireName('collection', input.collection, limits.maxCollectionBytes);
  if (!Array.isArray(input.changes)) throw new BadRequestError('changes must be an array');
  const changes: readonly unknown[] = input.changes;
  if (changes.length > limits.maxChanges) {
    throw new TooLargeError(`a commit holds at most ${limits.maxChanges} changes, this one has ${changes.length}; split it`);
  }
  let total = 0;
  const writes = changes.map((raw, i): Write => {
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
    return { key, subject: layout.record(userId, collection, key), payload, base };
  });
  if (total > limits.maxCommitBytes) {
    throw new TooLargeError(`the values of this commit are ${total} bytes encoded; the limit is ${limits.maxCommitBytes} bytes; split it`);
  }
  return { userId, collection, writes };
}

function isWrongLastSequence(err: unknown): boolean {
  return err instanceof JetStreamApiError && err.code === WRONG_LAST_SEQUENCE;
}

async function publish(ctx: DataContext, w: Write, expected: number | undefined): Promise<PubAck> {
  const options = { timeout: ctx.timeoutMs, ...(expected !== undefined && { expect: { lastSubjectSequence: expected } }) };
  return retryTransient(ctx.retryForMs, () => ctx.js.publish(w.subject, w.payload, options));
}

async function apply(ctx: DataContext, w: Write): Promise<Outcome> {
  let expected = w.base;
  // At most two attempts: the second only for base 0 over a tombstone (the key "does not exist").
  for (let attempt = 0; ; attempt++) {
    try {
      const ack = await publish(ctx, w, expected);
      return { written: ack.seq };
    } catch (err) {
      if (!isWrongLastSequence(err)) {
        throw new StoreUnavailableError(`writing key ${JSON.stringify(w.key)} failed: ${(err as Error).message}; retry the commit later`, { cause: err });
      }
    }
    const current = await ctx.reader.last(w.subject);
    if (!current) return { conflict: { key: w.key, rev: 0, deleted: true } };
    if (w.base === 0 && attempt === 0 && current.data.length === 0) {
      expected = current.seq;
      continue;
    }
    return { conflict: recordOf(ctx.layout, current) };
  }
}

/** Applies the changes of `input`; see the contract above. */
export async function commit(ctx: DataContext, input: CommitInput): Promise<CommitResult> {
  const { userId, collection, writes } = checkChanges(ctx, input);
  let outcomes: Outcome[];
  if (new Set(writes.map((w) => w.key)).size === writes.length) {
    // Distinct keys: the writes go out back to back on one connection, so JetStream receives and
    // applies them in order, and the commit costs about one round trip instead of one per change.
    const settled = await Promise.allSettled(writes.map((w) => apply(ctx, w)));
    const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (failed) throw failed.reason;
    outcomes = settled.map((s) => (s as PromiseFulfilledResult<Outcome>).value);
  } else {
    // A key written twice: one at a time, so a base-0 retry cannot land after a later change to the key.
    outcomes = [];
    for (const w of writes) outcomes.push(await apply(ctx, w));
  }
  let rev = 0;
  const conflicts: Record_[] = [];
  for (const o of outcomes) {
    if ('written' in o) rev = Math.max(rev, o.written);
    else conflicts.push(o.conflict);
  }
  if (rev === 0) {
    const last = await ctx.reader.last(ctx.layout.collection(userId, collection));
    rev = Math.max(last?.seq ?? 0, ...conflicts.map((c) => c.rev));
  }
  return { rev, conflicts };
}
