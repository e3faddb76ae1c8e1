/**
 * Every JetStream write of the storage, and what its failures mean.
 *
 * Fenced index writes: an index message is written with `Nats-Expected-Last-Subject-Sequence` set to
 * the sequence its writer read it at, so JetStream itself refuses the write when anything else wrote
 * that index since (another storage node holding the user's store, or a write of this node that was
 * applied although its answer was lost). The refused writer learns it lost (StaleWriteError) and none
 * of its request becomes visible, because records and commands are only reachable through an index.
 * A write also carries an id unique to this attempt (the `Sm-Write-Id` header, stored with the
 * message): a retry of a write that JetStream applied but whose answer was lost (a timeout) repeats a
 * write that is already there, so JetStream refuses it as "wrong last sequence"; the refused retry then
 * reads the subject's last message, and when it carries this attempt's id the write is done, at that
 * sequence. The id is never shared between writers, so one writer can never be told another's write was
 * its own. (Should another writer have written the index after the applied attempt and before that read,
 * the write is reported stale although it was applied: that takes a lost answer and a move of the user's
 * store within one retry window.)
 *
 * Until session 19 the id was a `Nats-Msg-Id`, answered "duplicate" by nats-server 2.9 (which checks the
 * id before the expected sequence; 2.12 and later check the sequence first and refused the retry anyway).
 * nats-server keeps every message id of a stream's duplicate window in memory and in a map it updates on
 * every write, for nothing here: the compare-and-set already refuses the repeat, and the header tells it
 * apart. Messages written with a `Nats-Msg-Id` are still recognised by it (reader.ts).
 */
import { JetStreamApiError } from '@nats-io/jetstream';
import type { JetStreamRequests } from '../../runtime/mod.js';
import { QuotaExceededError, StaleWriteError, StoreUnavailableError } from './errors.js';
import type { StreamReader } from './reader.js';
import { retryTransient } from './retry.js';
import { versionToken } from './layout.js';
import { INDEX_HEADER_BYTES, storedSize, type StreamRoom } from './room.js';

const WRONG_LAST_SEQUENCE = 10071;
/** A stream limit refused the write (the description names it: maximum bytes, messages...). */
const STREAM_STORE_FAILED = 10077;
/** JetStream as a whole has no room (its max_file_store, or the disk): 10023 on 2.9 when publishing. */
const INSUFFICIENT_RESOURCES = 10023;
const STORAGE_RESOURCES_EXCEEDED = 10047;
const ACCOUNT_RESOURCES_EXCEEDED = 10027;

export interface WriteContext {
  readonly requests: JetStreamRequests;
  readonly timeoutMs: number;
  readonly retryForMs: number;
  /** Room left in each stream (room.ts): writes stop short of a stream's byte limit. */
  readonly rooms: StoreRooms;
  /** Reader of the index stream: a refused retry of an index write looks for its first attempt there. */
  readonly indexes: StreamReader;
}

export interface StoreRooms {
  readonly records: StreamRoom;
  readonly index: StreamRoom;
  readonly commands: StreamRoom;
}

/** True when `err` says the stream or JetStream is full. */
export function isFull(err: unknown): boolean {
  if (!(err instanceof JetStreamApiError)) return false;
  if (err.code === INSUFFICIENT_RESOURCES || err.code === STORAGE_RESOURCES_EXCEEDED || err.code === ACCOUNT_RESOURCES_EXCEEDED) return true;
  return err.code === STREAM_STORE_FAILED && /maximum|exceeded|insufficient|resources/i.test(err.message);
}

export function isWrongLastSequence(err: unknown): boolean {
  return err instanceof JetStreamApiError && err.code === WRONG_LAST_SEQUENCE;
}

/** The error a request reports for a failed write of `what`. */
export function writeFailure(what: string, err: unknown): Error {
  if (isFull(err)) {
    return new QuotaExceededError(`the storage is full (${(err as Error).message}) while writing ${what}; nothing of this request was kept. Delete data, or ask the operator to raise the stream limits (--record-stream-bytes and others)`, { cause: err });
  }
  if (isWrongLastSequence(err)) {
    return new StaleWriteError(`${what} was changed meanwhile by another storage node (this user's store moved); nothing of this request was kept. Retry it`, { cause: err });
  }
  return new StoreUnavailableError(`writing ${what} failed: ${(err as Error).message}; retry later`, { cause: err });
}

/** Appends a message (a record version, a command); resolves with its stream sequence. The caller took its room. */
export async function append(ctx: WriteContext, what: string, subject: string, payload: Uint8Array): Promise<number> {
  try {
    const ack = await retryTransient(ctx.retryForMs, () => ctx.requests.publish(subject, payload, { timeoutMs: ctx.timeoutMs }));
    return ack.seq;
  } catch (err) {
    throw writeFailure(what, err);
  }
}

/**
 * Writes an index message if the subject's last sequence is still `expected` (0: no message yet);
 * resolves with the new sequence. Rejects with StaleWriteError when another write came first,
 * QuotaExceededError when full, StoreUnavailableError otherwise (then the outcome is unknown).
 */
export async function writeIndex(ctx: WriteContext, what: string, subject: string, payload: Uint8Array, expected: number): Promise<number> {
  // Unique to this attempt, and never another writer's: this process's random prefix and a counter
  // (layout.ts versionToken; one randomBytes call per write was 1.2% of the storage node's CPU under load).
  const writeId = `ix-${versionToken()}`;
  await ctx.rooms.index.take(storedSize(subject, payload.length, INDEX_HEADER_BYTES), what);
  let attempts = 0;
  try {
    const ack = await retryTransient(ctx.retryForMs, () => {
      attempts++;
      return ctx.requests.publish(subject, payload, { timeoutMs: ctx.timeoutMs, writeId, expectLastSubjectSequence: expected });
    });
    return ack.seq;
  } catch (err) {
    if (attempts > 1 && isWrongLastSequence(err)) {
      const own = await earlierAttempt(ctx, what, subject, writeId, err);
      if (own !== undefined) return own;
    }
    throw writeFailure(what, err);
  }
}

/** The sequence of `subject`'s last message when it is the write with id `writeId`; else undefined. */
async function earlierAttempt(ctx: WriteContext, what: string, subject: string, writeId: string, refusal: unknown): Promise<number | undefined> {
  let last;
  try {
    last = await ctx.indexes.last(subject);
  } catch (err) {
    // Whether the first attempt was applied is unknown: not "stale", which would say nothing was kept.
    throw new StoreUnavailableError(`writing ${what} timed out, and its retry was refused; whether the first attempt was applied could not be read (${(err as Error).message}); retry later`, { cause: refusal });
  }
  return last !== null && last.writeId === writeId ? last.seq : undefined;
}
