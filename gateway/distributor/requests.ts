/**
 * Request bodies of the distributor API, parsed and validated. Anything off answers 400 bad_request
 * with a message naming the field and what it must be.
 */
import { HttpError } from './errors.js';

/** Largest request body read (16 KB); a larger one is refused before it is parsed. */
export const MAX_BODY_BYTES = 16 * 1024;
/** userId and deviceId are 1..128 characters. */
export const MAX_ID_LENGTH = 128;
// With the `u` flag a surrogate range matches unpaired surrogates only.
const UNPAIRED_SURROGATE = /[\uD800-\uDFFF]/u;

/** At most this many node ids in `exclude`, each at most MAX_ID_LENGTH characters. */
export const MAX_EXCLUDE = 8;

export interface ConnectBody {
  readonly userId: string;
  readonly deviceId: string;
  /** Node ids the client failed to reach (extension; empty when absent). */
  readonly exclude: readonly string[];
}

export interface DevTokenBody {
  readonly userId: string;
}

function parseObject(body: Buffer): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(body.toString('utf8'));
  } catch (cause) {
    throw new HttpError('bad_request', 'request body is not valid JSON; send a JSON object', { cause });
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new HttpError('bad_request', 'request body must be a JSON object');
  }
  return value as Record<string, unknown>;
}

function idField(object: Record<string, unknown>, field: string): string {
  const value = object[field];
  if (value === undefined || value === null) throw new HttpError('bad_request', `"${field}" is missing; send it as a string of 1 to ${MAX_ID_LENGTH} characters`);
  if (typeof value !== 'string') throw new HttpError('bad_request', `"${field}" must be a string of 1 to ${MAX_ID_LENGTH} characters`);
  // Ids are hashed and stored as UTF-8, where an unpaired surrogate becomes U+FFFD: two different ids
  // would share one connection id and one storage namespace.
  if (UNPAIRED_SURROGATE.test(value)) throw new HttpError('bad_request', `"${field}" is not well-formed Unicode (it has an unpaired surrogate); send valid text`);
  // Characters are code points; the UTF-16 length is an upper bound, so most ids skip the count.
  const length = value.length <= MAX_ID_LENGTH ? value.length : [...value].length;
  if (length === 0 || length > MAX_ID_LENGTH) {
    throw new HttpError('bad_request', `"${field}" must be 1 to ${MAX_ID_LENGTH} characters long (got ${length})`);
  }
  return value;
}

const EXCLUDE_RULE = `an array of at most ${MAX_EXCLUDE} node ids (strings of 1 to ${MAX_ID_LENGTH} characters)`;

/** The optional `exclude` field: absent or null is none. */
function excludeField(object: Record<string, unknown>): readonly string[] {
  const value = object.exclude;
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw new HttpError('bad_request', `"exclude" must be ${EXCLUDE_RULE}`);
  if (value.length > MAX_EXCLUDE) throw new HttpError('bad_request', `"exclude" has ${value.length} entries; send ${EXCLUDE_RULE}`);
  for (const id of value as unknown[]) {
    // Node ids are ASCII in practice; the UTF-16 length bounds the work, no need to count code points.
    if (typeof id !== 'string' || id.length === 0 || id.length > MAX_ID_LENGTH) {
      throw new HttpError('bad_request', `"exclude" must be ${EXCLUDE_RULE}`);
    }
  }
  return value as string[];
}

/** `{"userId","deviceId","exclude"?}` of POST /v1/connect. */
export function parseConnectBody(body: Buffer): ConnectBody {
  const object = parseObject(body);
  return { userId: idField(object, 'userId'), deviceId: idField(object, 'deviceId'), exclude: excludeField(object) };
}

/** `{"userId"}` of POST /v1/dev/token. */
export function parseDevTokenBody(body: Buffer): DevTokenBody {
  return { userId: idField(parseObject(body), 'userId') };
}
