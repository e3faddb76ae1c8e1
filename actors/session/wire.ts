/**
 * The public WebSocket frames of PROTOCOL.md section 3: client requests checked for shape, server
 * checked against the contract in protocol/ (codes, limits, frame types).
 *
 * Request ids are echoed exactly as the client sent them (number or, past 2^53, BigInt), so a client
 * with 64-bit ids gets them back intact; `since` and `base` are cursors we compare, so they must be
 * safe integers (toSafeInteger).
 *
 * Everything in a client frame must be standard MessagePack (nonStandardValue): msgpackr decodes more
 * than that, and what it decodes beyond it must stop here, before a store write or an answer.
 */
import { CLIENT_FRAME_TYPES, ErrorCode, WIRE_LIMITS, isMap, toSafeInteger } from '../../protocol/mod.js';
import type { RequestId } from '../../protocol/mod.js';
import type { Change } from '../messages.js';

export type ClientRequest =
  | { readonly t: 'commit'; readonly id: RequestId; readonly collection: string; readonly changes: Change[]; readonly txid?: string }
  | { readonly t: 'pull'; readonly id: RequestId; readonly collection: string; readonly since: number }
  | { readonly t: 'send'; readonly id: RequestId; readonly toDevice: string; readonly body: unknown }
  | { readonly t: 'ack'; readonly id: RequestId | undefined; readonly commandId: string };

/** A frame that is not a valid request: answer `{t:"error", id?, code, message}`. */
export interface FrameProblem {
  readonly code: ErrorCode;
  readonly message: string;
  readonly id: RequestId | undefined;
}

export type ParsedFrame = { readonly ok: true; readonly request: ClientRequest } | { readonly ok: false; readonly problem: FrameProblem };

const KNOWN_TYPES: ReadonlySet<string> = new Set(CLIENT_FRAME_TYPES);

/** Maps and arrays nest at most this deep in a client frame (the frame's own map is level 1). */
const MAX_NESTING = 100;
const INT64_MIN = -(2n ** 63n);
const UINT64_MAX = 2n ** 64n - 1n;

/** True for a BigInt that MessagePack can carry (int64 or uint64); msgpackr's BigInt extension decodes wider ones. */
function isWireBigInt(value: bigint): boolean {
  return value >= INT64_MIN && value <= UINT64_MAX;
}

function requestId(value: unknown): RequestId | undefined {
  if (typeof value === 'number') return Number.isInteger(value) ? value : undefined;
  // A wider id could not be encoded in the answer (the encode would throw where nothing catches it).
  if (typeof value === 'bigint') return isWireBigInt(value) ? value : undefined;
  return undefined;
}

/**
 * What in a decoded frame standard MessagePack cannot express, or undefined when there is nothing.
 *
 * msgpackr (protocol/codec.ts) also decodes its own extension types: dates, sets, regular expressions,
 * errors, typed arrays, integers wider than 64 bits, `undefined`, the never-used byte 0xc1 (which it
 * would write back as is), and structured-clone references, with which a few hundred bytes describe
 * a value that takes gigabytes to encode again (a socket node froze on one). None may be stored or
 * sent on (PROTOCOL: no extension types on the wire), and a value we cannot encode must not get as
 * far as an answer (an unencodable id crashed a socket node). Iterative, so a deep frame cannot
 * overflow the stack; `seen` stops shared and cyclic references, so the walk is linear in the frame.
 */
function nonStandardValue(frame: Record<string, unknown>): string | undefined {
  const seen = new Set<object>();
  const values: unknown[] = [frame];
  const depths: number[] = [1];
  while (values.length > 0) {
    const v = values.pop();
    const depth = depths.pop()!;
    if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean' || v === null) continue;
    if (typeof v === 'bigint') {
      if (isWireBigInt(v)) continue;
      return 'an integer is wider than 64 bits';
    }
    if (typeof v !== 'object') return 'a value decodes to undefined: an extension type';
    if (v instanceof Uint8Array) continue; // bin
    if (seen.has(v)) return 'a map or array is referenced twice (msgpackr structured clone)';
    seen.add(v);
    if (depth > MAX_NESTING) return `maps and arrays are nested more than ${MAX_NESTING} deep`;
    if (Array.isArray(v)) {
      for (const item of v as unknown[]) {
        values.push(item);
        depths.push(depth + 1);
      }
    } else if (Object.getPrototypeOf(v) === Object.prototype) {
      for (const item of Object.values(v)) {
        values.push(item);
        depths.push(depth + 1);
      }
    } else {
      const what = (v as { constructor?: { name?: unknown } }).constructor?.name;
      return `a value decodes to ${typeof what === 'string' ? what : 'an object'}: an extension type or the unused byte 0xc1`;
    }
  }
  return undefined;
}

/** The `id` of a decoded frame when it has a usable one (for error answers to frames we refuse). */
export function frameId(frame: unknown): RequestId | undefined {
  return isMap(frame) ? requestId(frame['id']) : undefined;
}

function fail(code: ErrorCode, message: string, id: RequestId | undefined): ParsedFrame {
  return { ok: false, problem: { code, message, id } };
}

function name(value: unknown, max: number): value is string {
  return typeof value === 'string' && value.length > 0 && value.length <= max;
}

/** A string of 1 to `max` characters (code points: how the distributor counts device ids). */
function chars(value: unknown, max: number): value is string {
  return typeof value === 'string' && value.length > 0 && (value.length <= max || (value.length <= 2 * max && [...value].length <= max));
}

/** Checks a decoded frame: non-map or unknown `t` is bad_frame, a wrong shape is bad_request. */
export function parseClientFrame(frame: unknown): ParsedFrame {
  if (!isMap(frame)) return fail(ErrorCode.badFrame, 'a frame must be a MessagePack map with a string field t', undefined);
  const t = frame['t'];
  const id = requestId(frame['id']);
  const odd = nonStandardValue(frame);
  if (odd !== undefined) {
    return fail(ErrorCode.badFrame, `${odd}: send standard MessagePack only (nil, booleans, numbers, strings, binary, arrays, maps)`, id);
  }
  if (typeof t !== 'string') return fail(ErrorCode.badFrame, 'a frame must have a string field t', id);
  if (!KNOWN_TYPES.has(t)) return fail(ErrorCode.badFrame, `unknown frame type ${JSON.stringify(t.slice(0, 32))}: send commit, pull, send or ack`, id);
  if (t === 'ack') {
    const commandId = frame['commandId'];
    if (!name(commandId, WIRE_LIMITS.commandId)) return fail(ErrorCode.badRequest, `ack needs commandId: a string of 1 to ${WIRE_LIMITS.commandId} characters`, id);
    return { ok: true, request: { t, id, commandId } };
  }
  if (id === undefined) return fail(ErrorCode.badRequest, `${t} needs an integer id`, undefined);
  switch (t) {
    case 'commit':
      return parseCommit(frame, id);
    case 'pull': {
      const collection = frame['collection'];
      if (!name(collection, WIRE_LIMITS.collection)) return fail(ErrorCode.badRequest, `pull needs collection: a string of 1 to ${WIRE_LIMITS.collection} characters`, id);
      const rawSince = frame['since'];
      const since = rawSince === undefined || rawSince === null ? 0 : toSafeInteger(rawSince);
      if (since === undefined || since < 0) return fail(ErrorCode.badRequest, 'pull since must be a non-negative integer (0 for everything)', id);
      return { ok: true, request: { t, id, collection, since } };
    }
    default: {
      const toDevice = frame['toDevice'];
      if (!chars(toDevice, WIRE_LIMITS.deviceId)) return fail(ErrorCode.badRequest, `send needs toDevice: a device id of 1 to ${WIRE_LIMITS.deviceId} characters`, id);
      return { ok: true, request: { t: 'send', id, toDevice, body: frame['body'] ?? null } };
    }
  }
}

function parseCommit(frame: Record<string, unknown>, id: RequestId): ParsedFrame {
  const collection = frame['collection'];
  if (!name(collection, WIRE_LIMITS.collection)) return fail(ErrorCode.badRequest, `commit needs collection: a string of 1 to ${WIRE_LIMITS.collection} characters`, id);
  const raw = frame['changes'];
  if (!Array.isArray(raw)) return fail(ErrorCode.badRequest, 'commit needs changes: an array of {key, value} or {key, deleted:true}', id);
  const changes: Change[] = new Array<Change>(raw.length);
  for (let i = 0; i < raw.length; i++) {
    const c: unknown = raw[i];
    if (!isMap(c) || !name(c['key'], WIRE_LIMITS.key)) {
      return fail(ErrorCode.badRequest, `changes[${i}] needs key: a string of 1 to ${WIRE_LIMITS.key} characters`, id);
    }
    const change: Change = { key: c['key'] };
    if (c['deleted'] === true) change.deleted = true;
    else if ('value' in c) change.value = c['value'];
    else return fail(ErrorCode.badRequest, `changes[${i}] needs a value or deleted:true`, id);
    const rawBase = c['base'];
    if (rawBase !== undefined && rawBase !== null) {
      const base = toSafeInteger(rawBase);
      if (base === undefined || base < 0) return fail(ErrorCode.badRequest, `changes[${i}].base must be a non-negative integer rev`, id);
      change.base = base;
    }
    changes[i] = change;
  }
  const txid = frame['txid'];
  if (txid === undefined || txid === null) return { ok: true, request: { t: 'commit', id, collection, changes } };
  if (!name(txid, WIRE_LIMITS.txid)) return fail(ErrorCode.badRequest, `commit txid must be a string of 1 to ${WIRE_LIMITS.txid} characters`, id);
  return { ok: true, request: { t: 'commit', id, collection, changes, txid } };
}
