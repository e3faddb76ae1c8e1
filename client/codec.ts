/**
 * The client's MessagePack codec, configured exactly like runtime/codec.ts so that both ends write
 * standard MessagePack only (PROTOCOL.md section 3):
 * - no msgpackr records/structures (`useRecords: false`);
 * - `undefined` is written as nil, never as msgpackr's extension;
 * - 64-bit integers are read as BigInt (`int64AsType: 'bigint'`), so a uint64 a peer stored comes back
 *   intact and is written back as a 64-bit integer.
 * A separate file (rather than importing runtime/codec.ts) keeps the browser bundle free of server code;
 * msgpackr's package exports pick its browser build when bundled for browsers.
 */
import { Packr } from 'msgpackr';

const packr = new Packr({
  useRecords: false,
  encodeUndefinedAsNil: true,
  int64AsType: 'bigint',
  mapsAsObjects: true,
  variableMapSize: true,
});

/** Encodes one frame as standard MessagePack. */
export function encodeFrame(value: unknown): Uint8Array {
  return packr.pack(value);
}

/** Decodes standard MessagePack. Throws on malformed input. */
export function decodeFrame(bytes: Uint8Array): unknown {
  return packr.unpack(bytes);
}

/**
 * Returns `value` as a safe integer number when it is an integer (number or BigInt) within
 * ±(2^53-1), else `undefined`. Revisions, ids and delays come from the server through this.
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
