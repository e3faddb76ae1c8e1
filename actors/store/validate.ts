/**
 * Checks of everything a request brings in. Requests reach the storage from sessions that decoded
 * client frames, so every field is treated as untrusted (`unknown`) and checked here, once, before
 * anything is written: a commit with one bad change writes nothing.
 */
import { encode, toSafeInteger } from '../../protocol/mod.js';
import { BadRequestError, TooLargeError } from './errors.js';

// In a `u` regex a surrogate range matches only unpaired surrogates: strings that are not well-formed
// Unicode would lose information in UTF-8 and two different names could map to one subject.
const LONE_SURROGATE = /[\uD800-\uDFFF]/u;

/** A non-empty, well-formed string of at most `maxBytes` UTF-8 bytes. */
export function requireName(field: string, value: unknown, maxBytes: number): string {
  if (typeof value !== 'string' || value.length === 0) {
    throw new BadRequestError(`${field} must be a non-empty string`);
  }
  if (LONE_SURROGATE.test(value)) throw new BadRequestError(`${field} is not well-formed Unicode (it has an unpaired surrogate)`);
  const bytes = Buffer.byteLength(value, 'utf8');
  if (bytes > maxBytes) throw new BadRequestError(`${field} is ${bytes} bytes long; the limit is ${maxBytes} bytes`);
  return value;
}

/** A revision the client sent (`base`, `since`): a safe integer, 0 or more. */
export function requireRev(field: string, value: unknown): number {
  const n = toSafeInteger(value);
  if (n === undefined || n < 0) throw new BadRequestError(`${field} must be an integer revision, 0 or more`);
  return n;
}

/** An optional positive count (`limit`). */
export function optionalCount(field: string, value: unknown): number | undefined {
  if (value === undefined || value === null) return undefined;
  const n = toSafeInteger(value);
  if (n === undefined || n < 1) throw new BadRequestError(`${field} must be a positive integer`);
  return n;
}

/** An optional name (a device id a request may carry): undefined when absent or empty, else as requireName. */
export function optionalName(field: string, value: unknown, maxBytes: number): string | undefined {
  return typeof value === 'string' && value !== '' ? requireName(field, value, maxBytes) : undefined;
}

/** `value` encoded as MessagePack, at most `maxBytes` long. */
export function encodeLimited(what: string, value: unknown, maxBytes: number): Uint8Array {
  let bytes: Uint8Array;
  try {
    bytes = encode(value);
  } catch (err) {
    throw new BadRequestError(`${what} cannot be encoded as MessagePack`, { cause: err });
  }
  if (bytes.length > maxBytes) {
    throw new TooLargeError(`${what} is ${bytes.length} bytes encoded; the limit is ${maxBytes} bytes`);
  }
  return bytes;
}
