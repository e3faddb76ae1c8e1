/**
 * The session fence: at most one live session per connection id in the cluster, with nothing stored.
 *
 * Every session gets an **epoch** when its socket opens: `openedAt (ms) * 1024 + n`, from this node's
 * clock ({@link FenceClock}; `n` tells apart sessions opened in the same millisecond, and the clock
 * never goes back within a process). Sessions of one connection id are ordered by (epoch, node id):
 * the one that opened last wins. Across nodes that order rests on their clocks agreeing to within the
 * time a device takes to reconnect (seconds); NTP keeps them within milliseconds.
 *
 * A session announces itself once claimed: a control envelope on its connection's push subject
 * (`<prefix>.push.<slot>.<userKey>.<deviceKey>`, see protocol/cluster/push.ts),
 * {userId, control:{kind:"fence", epoch, node}}. Every socket node holding a session of that id
 * compares (fence.ts {@link compareClaims}):
 * - the control is newer: its session closes with close code `replaced`;
 * - the control is older: its session answers with its own control, so that the older one closes
 *   (a late announcement: its node was paused or cut off from NATS when the newer session opened);
 * - it is the session's own announcement: nothing.
 * A session that receives a newer control before it is claimed (still being admitted) is marked
 * superseded and closes as `replaced` at its claim.
 *
 * Core NATS is at most once, so a node that lost its NATS connection or stalled (SIGSTOP, a long GC
 * pause) may have missed controls meant for it: it announces every session it holds again, and the
 * holders of newer sessions answer (claims.ts). The window in which two sessions of one id can both be
 * live is one trip of a control over NATS (longer while a node is cut off: its clients cannot reach
 * it either, or it would not be cut off from its sessions' pushes).
 *
 * Nothing is written to JetStream: no key per connection, nothing to clean when a session ends or a
 * node dies, and no storage round trip on the connect path. (Releases up to 0.4 kept a KV bucket
 * `<prefix>_sessions`; it is no longer read or written and may be deleted.)
 */
import { decode, encode, isMap, toSafeInteger } from '../../protocol/mod.js';

/** The control envelope published on a connection's push subject when a session is claimed. */
export interface FenceControl {
  readonly userId: string;
  readonly control: { readonly kind: 'fence'; readonly epoch: number; readonly node: string };
}

/** One session's claim: when it opened (as an epoch) and on which node. */
export interface FenceClaim {
  readonly epoch: number;
  readonly node: string;
}

/** Reads a decoded push envelope as a fence control; undefined when it is not one. */
export function readFenceControl(envelope: Record<string, unknown>): (FenceClaim & { userId: string }) | undefined {
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

/** Decodes a control's bytes (tests and tools); undefined when they are not one. */
export function decodeFenceControl(bytes: Uint8Array): (FenceClaim & { userId: string }) | undefined {
  try {
    const env = decode(bytes);
    return isMap(env) ? readFenceControl(env) : undefined;
  } catch {
    return undefined;
  }
}

/** Negative when `a` is older than `b`, positive when newer, 0 for the same claim. */
export function compareClaims(a: FenceClaim, b: FenceClaim): number {
  if (a.epoch !== b.epoch) return a.epoch < b.epoch ? -1 : 1;
  return a.node < b.node ? -1 : a.node > b.node ? 1 : 0;
}

/** Epochs per millisecond: sessions opened on one node in the same millisecond stay apart. */
export const EPOCHS_PER_MS = 1024;

/** Hands out this node's epochs: from the wall clock, strictly growing within the process. */
export class FenceClock {
  #last = 0;

  /** The epoch of a session whose socket opened at `openedAt` (ms since the epoch). */
  next(openedAt: number): number {
    const e = Math.max(Math.floor(openedAt) * EPOCHS_PER_MS, this.#last + 1);
    this.#last = e;
    return e;
  }
}

/** When a session of `epoch` opened (ms since the epoch): for logs and tools. */
export function epochTime(epoch: number): number {
  return Math.floor(epoch / EPOCHS_PER_MS);
}
