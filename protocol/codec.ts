/**
 * The one MessagePack codec of Syncmesh, used on NATS subjects and on the public WebSocket wire.
 *
 * It writes standard MessagePack only, so any MessagePack library can read it:
 * - no msgpackr records/structures (`useRecords: false`);
 * - `undefined` is written as nil, never as msgpackr's extension;
 * - 64-bit integers are read as BigInt (`int64AsType: 'bigint'`) so a uint64 or int64 a peer sends is
 *   written back as a 64-bit integer, intact. Integers that fit 32 bits are plain numbers. Code that
 *   needs a number from a field a peer controls goes through {@link toSafeInteger}.
 */
import { Packr } from 'msgpackr';

const packr = new Packr({
  useRecords: false,
  encodeUndefinedAsNil: true,
  int64AsType: 'bigint',
  mapsAsObjects: true,
  variableMapSize: true,
});

/** Encodes a value as standard MessagePack. */
export function encode(value: unknown): Uint8Array {
  return packr.pack(value);
}

/** Decodes standard MessagePack. Throws on malformed input (callers turn that into `bad_frame`). */
export function decode(bytes: Uint8Array): unknown {
  return packr.unpack(bytes);
}

/**
 * A copy of `text` that shares no memory with the message it was decoded from. msgpackr (with its
 * native string extraction) decodes the strings of a message as slices of one string holding all of
 * them, and V8 keeps a slice of 13 or more characters as a pointer into that string: a decoded id kept
 * for minutes (a txid in a cached index, a map key) would keep the whole message's text alive with it.
 * Call this on decoded strings that are kept after the message is handled. Exact for any string
 * (UTF-16 code units are copied one by one, lone surrogates included); no Buffer, so browsers can use it.
 */
export function ownString(text: string): string {
  // join() builds a new flat string; shorter strings are copies already (V8 slices 13+ characters).
  return text.length < 13 ? text : text.split('').join('');
}

/**
 * A copy of `bytes` in memory of its own. What encode() returns is a view into the encoder's shared
 * 8 KiB buffer, and a decoded byte string a view into the message (and the read buffer it arrived in);
 * `Buffer#slice` makes another view, not a copy. Call this on bytes that are kept after the message is
 * handled (the storage's cached inline values), or each keeps a whole buffer alive.
 */
export function ownBytes(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(bytes);
}

/**
 * Returns `value` as a safe integer number when it is an integer (number or BigInt) within
 * ±(2^53-1), else `undefined`. Used for ids, revisions and cursors sent by peers.
 */
export function toSafeInteger(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isSafeInteger(value) ? value : undefined;
  if (typeof value === 'bigint') {
    return value <= BigInt(Number.MAX_SAFE_INTEGER) && value >= BigInt(Number.MIN_SAFE_INTEGER)
      ? Number(value)
      : undefined;
  }
  return undefined;
}

/**
 * Decodes a sequence of MessagePack values written back to back (the runtime batches several
 * frames in one NATS message). Returns the values in order. On malformed input it throws; the
 * error's `values` holds what was decoded before the bad part.
 */
export function decodeMany(bytes: Uint8Array): unknown[] {
  return packr.unpackMultiple(bytes) as unknown[];
}

/** A decoded MessagePack map (not an array, binary or timestamp): what every envelope and frame is. */
export function isMap(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Uint8Array) && !(value instanceof Date);
}
