/**
 * The WebSocket frames of PROTOCOL.md section 3 (and their documented extensions), as types, with the
 * builders the server uses. Every frame in both directions is one standard MessagePack map with a string
 * field `t` (see codec.ts). Fields that are absent are left out, never sent as nil-by-extension.
 *
 * Requests carry a client-chosen integer `id`, echoed as received (a number, or a BigInt past 2^53 so
 * 64-bit ids come back intact).
 */
import { encode } from './codec.js';
import type { ErrorCode } from './error-codes.js';

/** A client-chosen request id, echoed as received. */
export type RequestId = number | bigint;

/** Longest names the socket server accepts in a frame (the store applies its own, stricter rules). */
export const WIRE_LIMITS = {
  collection: 256,
  key: 1_024,
  deviceId: 128,
  commandId: 128,
  /** `txid` of a commit (extension): the client's idempotency key for that commit. */
  txid: 64,
} as const;

/** One change of a commit. `base` is the rev the client last saw for the key (0: "must not exist"). */
export interface ChangeFrame {
  key: string;
  /** Present unless `deleted`: any MessagePack value. */
  value?: unknown;
  deleted?: boolean;
  base?: number;
}

/** A key's latest state in `changes` and `conflicts`. */
export interface RecordFrame {
  key: string;
  rev: number;
  value?: unknown;
  deleted?: boolean;
}

// ---- client -> server -------------------------------------------------------------------------

/**
 * `txid` (extension) makes a commit idempotent: resent with the same txid (after a lost answer), it is
 * answered with the first attempt's result instead of being applied twice.
 */
export interface CommitFrame { t: 'commit'; id: RequestId; collection: string; changes: ChangeFrame[]; txid?: string }
export interface PullFrame { t: 'pull'; id: RequestId; collection: string; since: number }
export interface SendFrame { t: 'send'; id: RequestId; toDevice: string; body: unknown }
export interface AckFrame { t: 'ack'; commandId: string; id?: RequestId }

export type ClientFrame = CommitFrame | PullFrame | SendFrame | AckFrame;

/** The `t` of every frame a client may send. */
export const CLIENT_FRAME_TYPES: readonly ClientFrame['t'][] = Object.freeze(['commit', 'pull', 'send', 'ack']);

// ---- server -> client -------------------------------------------------------------------------

/**
 * (extension) Where this connection goes if its socket node goes away: the node the distributor would
 * allocate with this one excluded, and a single-use ticket for it. A client whose connection is lost
 * opens `socket.url?ticket=` directly before asking the distributor again (docs/protocol.md 3.1).
 */
export interface FallbackOffer {
  node: string;
  socket: { host: string; port: number; url: string };
  ticket: string;
  /** Ticket expiry, ms since the epoch. */
  expiresAt: number;
  /**
   * (extension) After an abnormal drop, the client waits a uniformly random time of up to this many ms
   * before opening the offer, so that a dead node's clients reach the survivors no faster than they
   * take them (sized by the node: gateway/socket/storm-spread.ts). Absent: the client's own spread.
   */
  spreadMs?: number;
}

/**
 * `epoch` (extension) names the storage generation: a client drops its cache when it changes.
 * `fallback` (extension): see FallbackOffer.
 */
export interface WelcomeFrame { t: 'welcome'; connectionId: string; node: string; epoch?: string; fallback?: FallbackOffer }
/**
 * (extension) `from`: the collection's rev just before this commit, when it wrote something (and its records
 * were few and small: see SyncFrame). A client whose cursor was exactly `from` may move it to `rev` after
 * a single-key commit: the commit was the only change in between.
 */
export interface CommittedFrame { t: 'committed'; id: RequestId; rev: number; conflicts: RecordFrame[]; from?: number }
export interface ChangesFrame { t: 'changes'; id: RequestId; collection: string; rev: number; changes: RecordFrame[]; more: boolean }
export interface SentFrame { t: 'sent'; id: RequestId; commandId: string }
export interface ErrorFrame { t: 'error'; id?: RequestId; code: ErrorCode; message: string }
/**
 * The patent's command information: pull `collection` from your cursor. (extension) A small commit's
 * sync carries what it wrote: `changes` are all of the commit's records and `from` the collection's rev
 * just before it, so a client whose cursor is exactly `from` applies them and moves its cursor to `rev`
 * without pulling; any other client pulls as usual.
 */
export interface SyncFrame { t: 'sync'; collection: string; rev: number; from?: number; changes?: RecordFrame[] }

/** Commits whose records total at most this many encoded value bytes (and changes) carry them in their sync. */
export const INLINE_SYNC_MAX_BYTES = 8 * 1024;
export const INLINE_SYNC_MAX_CHANGES = 32;
/**
 * (extension) Pull every collection you follow from your cursors: the server may have missed pushes for
 * this connection (its node lost and regained its NATS link, or a storage node failed after a write).
 */
export interface ResyncFrame { t: 'resync' }
export interface CommandFrame { t: 'command'; commandId: string; fromDevice: string; body: unknown }
export interface DeliveredFrame { t: 'delivered'; commandId: string }
export interface DrainFrame { t: 'drain'; retryAfterMs: number }
/**
 * (extension) A new fallback offer for this connection, replacing the one of its welcome (or the last
 * such frame); without `fallback`, the connection has none now (docs/protocol.md 3.1).
 */
export interface FallbackFrame { t: 'fallback'; fallback?: FallbackOffer }

export type ServerFrame =
  | WelcomeFrame | CommittedFrame | ChangesFrame | SentFrame | ErrorFrame
  | SyncFrame | ResyncFrame | CommandFrame | DeliveredFrame | DrainFrame | FallbackFrame;

// ---- builders (server side) -------------------------------------------------------------------

/** `{t:"error", id?, code, message}`. */
export function errorFrame(code: ErrorCode, message: string, id?: RequestId): Uint8Array {
  return encode(id === undefined ? { t: 'error', code, message } : { t: 'error', id, code, message });
}

/** `{t:"welcome", connectionId, node, epoch}`; `epoch` is left out when unknown. */
export function welcomeFrame(connectionId: string, node: string, epoch?: string, fallback?: FallbackOffer): Uint8Array {
  const frame: WelcomeFrame = { t: 'welcome', connectionId, node };
  if (epoch !== undefined) frame.epoch = epoch;
  if (fallback !== undefined) frame.fallback = fallback;
  return encode(frame);
}

/** `{t:"fallback", fallback?}`. */
export function fallbackFrame(fallback: FallbackOffer | undefined): Uint8Array {
  return encode(fallback === undefined ? { t: 'fallback' } : { t: 'fallback', fallback });
}

/** `{t:"drain", retryAfterMs}`. */
export function drainFrame(retryAfterMs: number): Uint8Array {
  return encode({ t: 'drain', retryAfterMs });
}

/**
 * `{t:"sync", collection, rev}` as a map (it travels inside a push envelope before it is encoded), with
 * `from` and `changes` when the commit's records ride along (see SyncFrame).
 */
export function syncFrame(collection: string, rev: number, inline?: { from: number; changes: RecordFrame[] }): SyncFrame {
  return inline === undefined ? { t: 'sync', collection, rev } : { t: 'sync', collection, rev, from: inline.from, changes: inline.changes };
}

/** `{t:"resync"}`, encoded once: it never changes. */
export const RESYNC_FRAME_BYTES: Uint8Array = encode({ t: 'resync' } satisfies ResyncFrame);
