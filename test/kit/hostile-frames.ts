/**
 * Test kit: hostile WebSocket frames for the public protocol, each with the answer docs/protocol.md
 * (3.2) promises for it: one `error` frame with this code, carrying the request id when the frame
 * has a usable one. Frames are built with @msgpack/msgpack, not the server's codec, plus hand-written
 * bytes for what no encoder writes on purpose: truncations, extension types (timestamps, msgpackr's
 * own: sets, errors, typed arrays, references), absurd nesting.
 *
 * Deterministic: every choice comes from a seeded generator, so a failure repeats with its seed.
 */
import { encode as stdEncode } from '@msgpack/msgpack';

export type HostileCode = 'bad_frame' | 'bad_request' | 'too_large';

export interface HostileFrame {
  /** What the frame tries (for failure messages). */
  readonly kind: string;
  /** A string is sent as a text frame, bytes as a binary frame. */
  readonly data: Uint8Array | string;
  readonly code: HostileCode;
  /** The id the error frame must carry; undefined when the frame has no usable one. */
  readonly id: number | bigint | undefined;
}

/** A generator of numbers in [0, 1) from a seed (mulberry32). */
export type Rng = () => number;

export function seededRng(seed: number): Rng {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function pick<T>(rng: Rng, items: readonly T[]): T {
  return items[Math.floor(rng() * items.length)]!;
}

function between(rng: Rng, min: number, max: number): number {
  return min + Math.floor(rng() * (max - min + 1));
}

/** Standard MessagePack of `value` (64-bit integers as BigInt). */
export function enc(value: unknown): Uint8Array {
  return stdEncode(value, { useBigInt64: true });
}

export function cat(...parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

export function hex(text: string): Uint8Array {
  return Uint8Array.from(Buffer.from(text.replace(/\s+/g, ''), 'hex'));
}

function u32(n: number): Uint8Array {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return Uint8Array.from(b);
}

/** A map whose values are given already encoded, so any bytes can stand in for a value. */
export function rawMap(entries: readonly (readonly [string, Uint8Array])[]): Uint8Array {
  if (entries.length > 15) throw new RangeError('rawMap writes fixmaps only');
  return cat(Uint8Array.of(0x80 | entries.length), ...entries.flatMap(([k, v]) => [enc(k), v]));
}

/** Values no standard encoder writes: extension types, each alone decodable by msgpackr. */
export const EXTENSION_VALUES: Readonly<Record<string, Uint8Array>> = {
  'timestamp (ext -1)': hex('d6 ff 00000001'),
  'undefined (ext 0)': hex('d4 00 00'),
  'msgpackr set (ext 0x73)': cat(hex('d4 73 00'), enc([1, 2])),
  'msgpackr regexp (ext 0x78)': cat(hex('d4 78 00'), enc(['a+', 'g'])),
  'msgpackr error (ext 0x65)': cat(hex('d4 65 00'), enc(['TypeError', 'boom', null])),
  'msgpackr typed array (ext 0x74)': hex('d6 74 00 01 02 03'),
  'integer wider than 64 bits (ext 0x42)': cat(hex('c7 10 42'), new Uint8Array(16).fill(0x11)),
  'cycle (ext 0x69 + 0x70)': hex('d6 69 00000007 91 d6 70 00000007'),
};

/**
 * msgpackr structured-clone references: `levels` arrays, each holding the previous one twice. A few
 * hundred bytes that decode cheaply but stand for 2^levels leaves when encoded again.
 */
export function referenceBomb(levels: number): Uint8Array {
  const defs: Uint8Array[] = [cat(hex('d6 69'), u32(1), hex('92 01 01'))];
  for (let k = 2; k <= levels; k++) defs.push(cat(hex('d6 69'), u32(k), hex('92 d6 70'), u32(k - 1), hex('d6 70'), u32(k - 1)));
  return cat(hex('dc'), Uint8Array.of(levels >> 8, levels & 0xff), ...defs);
}

/** `depth` nested one-element arrays around 1. */
export function nested(depth: number): Uint8Array {
  return cat(new Uint8Array(depth).fill(0x91), hex('01'));
}

const pullOf = (id: unknown): Uint8Array => enc({ t: 'pull', id, collection: 'c', since: 0 });
const commitValue = (id: number, value: Uint8Array): Uint8Array =>
  rawMap([['t', enc('commit')], ['id', enc(id)], ['collection', enc('c')], ['changes', cat(hex('91'), rawMap([['key', enc('k')], ['value', value]]))]]);

/** Ids that must come back exactly as sent (docs/protocol.md 3.2: 64-bit integers intact). */
const ODD_IDS: readonly (number | bigint)[] = [2n ** 64n - 1n, -(2n ** 63n), 2n ** 53n + 1n, -1, 0, 1e300];

type Make = (rng: Rng, id: number) => Omit<HostileFrame, 'kind'>;

const noId = (code: HostileCode, data: Uint8Array | string): Omit<HostileFrame, 'kind'> => ({ code, data, id: undefined });

/** Every kind of hostile frame, with its expected answer. Frames over 1 MiB are made separately (oversized()). */
const KINDS: Readonly<Record<string, Make>> = {
  // --- bad_frame, no usable id: not one decodable MessagePack map -------------------------------
  'text frame': (rng) => noId('bad_frame', pick(rng, ['{"t":"pull","id":1,"collection":"c","since":0}', 'hello', '', 'x'.repeat(between(rng, 1, 2000))])),
  'random bytes': (rng) => noId('bad_frame', Uint8Array.from({ length: between(rng, 0, 200) }, () => Math.floor(rng() * 256))),
  'truncated map': (rng, id) => {
    const full = enc({ t: 'commit', id, collection: 'notes', changes: [{ key: 'k', value: { a: [1, 2, 3], s: 'text' } }] });
    return noId('bad_frame', full.subarray(0, between(rng, 1, full.length - 1)));
  },
  'trailing bytes': (rng, id) => noId('bad_frame', cat(pullOf(id), Uint8Array.from({ length: between(rng, 1, 3) }, () => Math.floor(rng() * 128)))),
  'not a map': (rng) => noId('bad_frame', enc(pick<unknown>(rng, [0, -1, 3.5, 'pull', [1, 2], null, true, new Uint8Array(3), [{ t: 'pull', id: 1 }]]))),
  'dangling reference (ext 0x70)': (_rng, id) => noId('bad_frame', rawMap([['t', enc('pull')], ['id', enc(id)], ['x', hex('d6 70 00000009')]])),
  'unknown extension (ext 0x10)': (_rng, id) => noId('bad_frame', rawMap([['t', enc('pull')], ['id', enc(id)], ['x', hex('d4 10 00')]])),
  'nesting too deep to decode': (_rng, id) => noId('bad_frame', rawMap([['t', enc('pull')], ['id', enc(id)], ['x', nested(100_000)]])),
  'id wider than 64 bits': () =>
    noId('bad_frame', rawMap([['t', enc('pull')], ['id', EXTENSION_VALUES['integer wider than 64 bits (ext 0x42)']!], ['collection', enc('c')], ['since', enc(0)]])),
  // --- bad_frame with the id: a map, but not a request ------------------------------------------
  'no t': (_rng, id) => ({ code: 'bad_frame', id, data: enc({ id, collection: 'c', since: 0 }) }),
  't not a string': (rng, id) => ({ code: 'bad_frame', id, data: enc({ t: pick<unknown>(rng, [5, null, ['pull'], {}, true, new Uint8Array(1)]), id }) }),
  'unknown t': (rng, id) => ({
    code: 'bad_frame',
    id,
    data: enc({ t: pick(rng, ['welcome', 'committed', 'error', 'sync', 'PULL', 'pull ', '', '__proto__', 'constructor', 'toString', 'x'.repeat(300)]), id }),
  }),
  'odd id, unknown t': (rng) => {
    const id = pick(rng, ODD_IDS);
    return { code: 'bad_frame', id, data: enc({ t: 'nope', id }) };
  },
  'extension type value': (rng, id) => ({ code: 'bad_frame', id, data: commitValue(id, pick(rng, Object.values(EXTENSION_VALUES))) }),
  // msgpackr reads 0xc1 (never used in MessagePack) as a marker object and would write it back as is.
  'unused byte 0xc1': (_rng, id) => ({ code: 'bad_frame', id, data: rawMap([['t', enc('pull')], ['id', enc(id)], ['x', hex('c1')]]) }),
  // 22 levels: 4M leaves from 467 bytes. Enough to show the refusal; should it ever regress, a node
  // spends a second on each, not its memory on one (32 levels froze a node at 4 GB).
  'reference bomb': (_rng, id) => ({ code: 'bad_frame', id, data: commitValue(id, referenceBomb(22)) }),
  'deep nesting': (rng, id) => ({ code: 'bad_frame', id, data: commitValue(id, nested(between(rng, 120, 3000))) }),
  // --- bad_request: a request of the wrong shape --------------------------------------------------
  'request without a usable id': (rng) =>
    noId('bad_request', enc({ t: pick(rng, ['pull', 'commit', 'send']), ...pick<Record<string, unknown>>(rng, [{}, { id: 1.5 }, { id: '7' }, { id: null }, { id: [1] }]), collection: 'c', since: 0 })),
  'pull collection': (rng, id) => ({ code: 'bad_request', id, data: enc({ t: 'pull', id, collection: pick<unknown>(rng, [5, null, '', 'x'.repeat(257), ['c'], new Uint8Array(2), true]), since: 0 }) }),
  'pull since': (rng, id) => ({
    code: 'bad_request',
    id,
    data: enc({ t: 'pull', id, collection: 'c', since: pick<unknown>(rng, [-1, 1.5, '0', 2n ** 62n, -(2n ** 63n), Number.NaN, Number.POSITIVE_INFINITY, {}, true]) }),
  }),
  'commit changes': (rng, id) => ({
    code: 'bad_request',
    id,
    data: enc({
      t: 'commit',
      id,
      collection: 'c',
      changes: pick<unknown>(rng, [
        'nope', 5, null, {}, [5], [null], [{ value: 1 }], [{ key: 5, value: 1 }], [{ key: '', value: 1 }], [{ key: 'k' }],
        [{ key: 'k', deleted: 'yes' }], [{ key: 'k', value: 1, base: -1 }], [{ key: 'k', value: 1, base: 1.5 }],
        [{ key: 'k', value: 1, base: '1' }], [{ key: 'x'.repeat(1025), value: 1 }],
      ]),
    }),
  }),
  'commit collection': (rng, id) => ({ code: 'bad_request', id, data: enc({ t: 'commit', id, collection: pick<unknown>(rng, [5, '', 'x'.repeat(300), null]), changes: [] }) }),
  'name over the store limit': (rng, id) => ({
    code: 'bad_request',
    id,
    data: rng() < 0.5
      ? enc({ t: 'commit', id, collection: 'c'.repeat(between(rng, 129, 256)), changes: [{ key: 'k', value: 1 }] })
      : enc({ t: 'pull', id, collection: 'c'.repeat(between(rng, 129, 256)), since: 0 }),
  }),
  'key over the store limit': (rng, id) => ({ code: 'bad_request', id, data: enc({ t: 'commit', id, collection: 'c', changes: [{ key: 'k'.repeat(between(rng, 513, 1024)), value: 1 }] }) }),
  'send toDevice': (rng, id) => ({ code: 'bad_request', id, data: enc({ t: 'send', id, toDevice: pick<unknown>(rng, [undefined, 5, '', 'x'.repeat(129), null, ['a']]), body: 'b' }) }),
  'ack commandId': (rng, id) => ({ code: 'bad_request', id, data: enc({ t: 'ack', id, commandId: pick<unknown>(rng, [undefined, 5, '', 'x'.repeat(129), 'y'.repeat(65)]) }) }),
  // --- too_large: within the frame limit, over a storage limit --------------------------------------
  'too many changes': (_rng, id) => ({ code: 'too_large', id, data: enc({ t: 'commit', id, collection: 'c', changes: Array.from({ length: 501 }, (_, i) => ({ key: `k${i}`, value: i })) }) }),
  'value over 256 KB': (_rng, id) => ({ code: 'too_large', id, data: enc({ t: 'commit', id, collection: 'c', changes: [{ key: 'big', value: new Uint8Array(270 * 1024) }] }) }),
};

/** MessagePack headers that promise far more than the frame holds (a decoder must not allocate for them). */
const LYING_HEADERS: readonly Uint8Array[] = [
  hex('dd ffffffff 01 02'), // array32 of 4G elements
  hex('df 7fffffff a1 74'), // map32 of 2G entries
  hex('db ffffffff 61'), // str32 of 4 GB
  hex('c6 ffffffff 00'), // bin32 of 4 GB
  hex('c9 ffffffff 01 00'), // ext32 of 4 GB
];

/** Kinds added for fuzzing at volume (fuzzFrame); each with its documented answer. */
const FUZZ_KINDS: Readonly<Record<string, Make>> = {
  'lying length header': (rng) => noId('bad_frame', pick(rng, LYING_HEADERS)),
  'lying length inside a request': (rng, id) => noId('bad_frame', rawMap([['t', enc('pull')], ['id', enc(id)], ['collection', pick(rng, LYING_HEADERS)]])),
  'huge array, unknown t': (rng, id) => ({ code: 'bad_frame', id, data: enc({ t: 'fuzz', id, x: Array.from({ length: between(rng, 1_000, 60_000) }, (_, i) => i) }) }),
  'huge map, unknown t': (rng, id) => ({ code: 'bad_frame', id, data: enc({ t: 'fuzz', id, x: Object.fromEntries(Array.from({ length: between(rng, 100, 5_000) }, (_, i) => [`k${i}`, i])) }) }),
  'huge array of changes': (rng, id) => ({ code: 'too_large', id, data: enc({ t: 'commit', id, collection: 'c', changes: Array.from({ length: between(rng, 501, 20_000) }, (_, i) => ({ key: `k${i}`, value: i })) }) }),
  'deeply nested map': (rng, id) => {
    const depth = between(rng, 101, 2_000);
    return { code: 'bad_frame', id, data: commitValue(id, cat(new Uint8Array(depth * 3).map((_, i) => [0x81, 0xa1, 0x61][i % 3]!), hex('01'))) };
  },
  'wrong type everywhere': (rng, id) => {
    const odd = (): unknown => pick<unknown>(rng, [null, true, -1, 1.5, 'x', [], {}, new Uint8Array(2), 2n ** 63n]);
    const t = pick(rng, ['commit', 'pull', 'send']);
    const base: Record<string, unknown> = { t, id };
    if (t === 'commit') Object.assign(base, { collection: 'c', changes: [{ key: odd(), value: 1 }] });
    if (t === 'pull') Object.assign(base, { collection: odd(), since: 0 });
    if (t === 'send') Object.assign(base, { toDevice: pick<unknown>(rng, [null, 5, [], {}, true]), body: 'b' });
    // `key: 'x'` and a string collection are valid: only frames that are wrong for sure.
    if (t === 'commit' && typeof (base['changes'] as { key: unknown }[])[0]!.key === 'string') (base['changes'] as { key: unknown }[])[0]!.key = 5;
    if (t === 'pull' && typeof base['collection'] === 'string') base['collection'] = 5;
    return { code: 'bad_request', id, data: enc(base) };
  },
  'text frame of any text': (rng) => noId('bad_frame', Array.from({ length: between(rng, 0, 64) }, () => String.fromCharCode(between(rng, 32, 0x2fff))).join('')),
};

export const HOSTILE_KINDS: readonly string[] = Object.keys(KINDS);
export const FUZZ_ONLY_KINDS: readonly string[] = Object.keys(FUZZ_KINDS);

/**
 * Weights of the fuzz mix: the cheap kinds often, the ones that are large on the wire (over 100 KB:
 * 'value over 256 KB', 'nesting too deep to decode', long text, big arrays) seldom, so 100k frames
 * stay a few hundred MB of traffic.
 */
const HEAVY = new Set(['value over 256 KB', 'nesting too deep to decode', 'reference bomb', 'huge array of changes', 'huge array, unknown t', 'huge map, unknown t']);
const FUZZ_MIX: readonly (readonly [string, number])[] = [...HOSTILE_KINDS, ...FUZZ_ONLY_KINDS].map((k) => [k, HEAVY.has(k) ? 0.05 : 1] as const);
const FUZZ_TOTAL = FUZZ_MIX.reduce((n, [, w]) => n + w, 0);

/** One frame of the fuzz mix (every hostile kind plus the fuzz-only ones, heavy ones seldom). */
export function fuzzFrame(rng: Rng, id: number): HostileFrame {
  let r = rng() * FUZZ_TOTAL;
  for (const [kind, w] of FUZZ_MIX) {
    r -= w;
    if (r < 0) return hostileFrame(rng, id, kind);
  }
  return hostileFrame(rng, id, FUZZ_MIX[0]![0]);
}

/** One hostile frame of a random kind (or of `kind`), with request id `id` where it has one. */
export function hostileFrame(rng: Rng, id: number, kind: string = pick(rng, HOSTILE_KINDS)): HostileFrame {
  const make = KINDS[kind] ?? FUZZ_KINDS[kind];
  if (make === undefined) throw new Error(`no hostile frame kind ${JSON.stringify(kind)}`);
  return { kind, ...make(rng, id) };
}

/** A frame over the 1 MiB frame limit but within twice it: answered too_large with its id. */
export function oversized(id: number): HostileFrame {
  return { kind: 'frame over 1 MiB', code: 'too_large', id, data: enc({ t: 'pull', id, collection: 'c', since: 0, pad: new Uint8Array(1024 * 1024 + 4096) }) };
}
