/**
 * The session fence: exactly one live session per connection id in the cluster.
 *
 * A JetStream KV bucket `<prefix>_sessions` holds, per connection id, the session that owns it:
 * value {node, at} (`at`: when the session opened). Opening a session claims the key with a
 * compare-and-set write (expected last revision = the revision just read); a lost race re-reads and
 * claims again, so the last opener wins. "Last" is by open time, not by write: a claim that finds a
 * session opened later than its own (beyond clock skew) gives way instead of writing.
 * The revision of the winning write is the session's **epoch**: revisions of a stream only grow, so
 * epochs keep their order across deletes and across keys, with no counter to keep.
 *
 * The winner then publishes a control envelope on the connection's push subject
 * (`<prefix>.push.<slot>.<userKey>.<deviceKey>`, see protocol/cluster/push.ts): {userId, control:{kind:"fence",
 * epoch, node}}. Every socket node holding an older session of that id (epoch lower) closes it with
 * close code `replaced`; a session still claiming remembers the highest epoch it saw and closes itself
 * if its own claim turns out lower. A node that lost NATS for a while may have missed controls, so on
 * reconnect it re-reads the keys of its sessions ({@link SessionFence.holder}) and closes those it no
 * longer owns. The window in which two sessions can both be live is the control's trip over NATS.
 *
 * Cleaning (the bucket holds one entry per live session, not one per connection id ever seen):
 * - on close a session removes its key only if it still holds it: a JetStream purge of the key's
 *   subject *up to and including its epoch* (`seq: epoch + 1`), which leaves a newer claim alone and,
 *   unlike a KV delete, leaves no marker behind.
 * - keys left by sessions whose node died (kill -9, power loss) are reclaimed by {@link SessionFence.sweep}:
 *   the same conditional purge, for every key whose node is not a live member.
 * A later claim of a removed key writes with expected revision 0 ("no message"), and its revision is
 * still higher than any before it: epochs keep growing.
 */
import { JetStreamApiCodes, JetStreamApiError, jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import type { KV } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/nats-core';
import { decode, encode, toSafeInteger } from '../../protocol/mod.js';
import { KeyPurge } from './key-purge.js';
import { ensureBucket, StreamMismatchError } from '../../runtime/mod.js';
import { FenceError } from './errors.js';

/** The control envelope published on a connection's push subject after a claim. */
export interface FenceControl {
  readonly userId: string;
  readonly control: { readonly kind: 'fence'; readonly epoch: number; readonly node: string };
}

/** Reads a decoded push envelope as a fence control; undefined when it is not one. */
export function readFenceControl(envelope: Record<string, unknown>): { userId: string; epoch: number; node: string } | undefined {
  const c = envelope['control'];
  if (typeof c !== 'object' || c === null) return undefined;
  const { kind, epoch, node } = c as Record<string, unknown>;
  const e = toSafeInteger(epoch);
  const userId = envelope['userId'];
  if (kind !== 'fence' || e === undefined || typeof node !== 'string' || typeof userId !== 'string') return undefined;
  return { userId, epoch: e, node };
}

export function encodeFenceControl(userId: string, epoch: number, node: string): Uint8Array {
  const control: FenceControl = { userId, control: { kind: 'fence', epoch, node } };
  return encode(control);
}

/** When the session in a fence entry opened (its `at`), 0 when unreadable. */
function openedAtOf(value: Uint8Array): number {
  try {
    const at = (decode(value) as { at?: unknown }).at;
    return typeof at === 'number' ? at : 0;
  } catch {
    return 0;
  }
}

/** Who holds a connection id. */
export interface FenceHolder {
  readonly node: string;
  readonly epoch: number;
}

const CLAIM_ATTEMPTS = 8;

/**
 * How much later (by the holder's clock) the current holder's session must have opened than ours for
 * our claim to give way. Socket nodes' clocks differ by milliseconds under NTP; a second is a wide
 * margin, and a claim delayed that long (a stall, a NATS link that buffered the claim) is stale.
 */
export const CLAIM_SKEW_TOLERANCE_MS = 1_000;

/** Our claim gave way: the id is held by a session that opened later than ours (see claim()). */
export const SUPERSEDED = 0;

function isWrongSequence(err: unknown): boolean {
  return (
    err instanceof JetStreamApiError &&
    (err.code === JetStreamApiCodes.StreamWrongLastSequence || err.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown)
  );
}

/** What one sweep did. */
export interface SweepResult {
  readonly keys: number;
  readonly reclaimed: number;
  /** Keys of nodes that are gone but younger than the minimum age: left for a later sweep. */
  readonly young: number;
}

export class SessionFence {
  readonly #kv: KV;
  readonly #purge: KeyPurge;

  private constructor(kv: KV, jsm: JetStreamManager, bucket: string) {
    this.#kv = kv;
    this.#purge = new KeyPurge(jsm, bucket);
  }

  /** Opens (creating if needed) the bucket `<prefix>_sessions`. */
  static async open(nc: NatsConnection, prefix: string, replicas: number): Promise<SessionFence> {
    try {
      // History 1: only the current holder matters. No TTL: a key that vanished would let an old
      // session believe it still owns its id (see holder()).
      const bucket = `${prefix}_sessions`;
      const kv = await ensureBucket(nc, { bucket, replicas, history: 1, description: 'Syncmesh session fence: the session holding each connection id' });
      return new SessionFence(kv, await jetstreamManager(nc), bucket);
    } catch (err) {
      if (err instanceof StreamMismatchError) throw err;
      throw new FenceError(`could not open the session fence bucket ${prefix}_sessions: is JetStream enabled on the NATS servers?`, { cause: err });
    }
  }

  /**
   * Claims `connectionId` for a session on `node` opened at `openedAt` (ms, this node's clock); resolves
   * with the claim's epoch, or {@link SUPERSEDED} (0, never an epoch) when the id is held by a session
   * that opened more than CLAIM_SKEW_TOLERANCE_MS after ours. The newest *open* wins, not the last write:
   * a claim that was held up (its node paused with SIGSTOP, or its NATS link down with the claim
   * buffered) must not take the id back from the session its device opened since, which would leave
   * that device closed with `replaced` by a session whose client has left.
   */
  async claim(connectionId: string, node: string, openedAt: number): Promise<number> {
    const value = encode({ node, at: openedAt });
    let lastErr: unknown;
    for (let attempt = 0; attempt < CLAIM_ATTEMPTS; attempt++) {
      try {
        const current = await this.#kv.get(connectionId);
        if (current !== null && current.operation === 'PUT' && openedAtOf(current.value) > openedAt + CLAIM_SKEW_TOLERANCE_MS) return SUPERSEDED;
        // Expected last revision: the current entry's (a delete marker included), 0 when none.
        return await this.#kv.put(connectionId, value, { previousSeq: current?.revision ?? 0 });
      } catch (err) {
        lastErr = err;
        if (!isWrongSequence(err)) break; // another opener won the race: read again and take over
      }
    }
    throw new FenceError(`could not claim session ${connectionId} in the fence`, { cause: lastErr });
  }

  /** The current holder of `connectionId`, or undefined when nobody holds it. */
  async holder(connectionId: string): Promise<FenceHolder | undefined> {
    try {
      const e = await this.#kv.get(connectionId);
      if (e === null || e.operation !== 'PUT') return undefined;
      const v = decode(e.value) as { node?: unknown };
      return { node: typeof v.node === 'string' ? v.node : '', epoch: e.revision };
    } catch (err) {
      throw new FenceError(`could not read session ${connectionId} from the fence`, { cause: err });
    }
  }

  /**
   * Removes the key if `epoch` still holds it: purges the key's messages up to and including `epoch`,
   * so a newer holder (a higher revision) is left alone, and no delete marker stays behind.
   */
  async release(connectionId: string, epoch: number): Promise<void> {
    try {
      await this.#purge.upTo(connectionId, epoch);
    } catch (err) {
      throw new FenceError(`could not release session ${connectionId} in the fence`, { cause: err });
    }
  }

  /**
   * Reclaims the keys of sessions whose node is gone: every key whose holder `isLive` denies and whose
   * claim is older than `minAgeMs` (a member that just joined may not be known yet) is released at its
   * own revision, so a claim made meanwhile survives. Reads every key: O(keys in the bucket), run by one
   * node when a socket node goes down.
   */
  async sweep(isLive: (node: string) => boolean, minAgeMs: number, now = Date.now()): Promise<SweepResult> {
    let keys = 0;
    let reclaimed = 0;
    let young = 0;
    try {
      const names: string[] = [];
      for await (const k of await this.#kv.keys()) names.push(k);
      for (const key of names) {
        const e = await this.#kv.get(key);
        if (e === null || e.operation !== 'PUT') continue;
        keys++;
        const v = decode(e.value) as { node?: unknown; at?: unknown };
        const node = typeof v.node === 'string' ? v.node : '';
        const at = typeof v.at === 'number' ? v.at : 0;
        if (isLive(node)) continue;
        if (now - at < minAgeMs) {
          young++;
          continue;
        }
        await this.release(key, e.revision);
        reclaimed++;
      }
    } catch (err) {
      throw new FenceError('could not sweep the session fence for keys of nodes that are gone', { cause: err });
    }
    return { keys, reclaimed, young };
  }
}
