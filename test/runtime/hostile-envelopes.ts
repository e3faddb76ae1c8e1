/**
 * Hostile frames for a node's NATS subjects (runtime/envelope.ts), each with what the node must do:
 * answer `code` on `<prefix>.reply.<SPY>` for the frame's correlation id when the frame carries a
 * readable reply address, else only count it. Deterministic: every choice comes from a seeded
 * generator, so a failure repeats with its seed.
 */
import { cat, enc, EXTENSION_VALUES, nested, referenceBomb, type Rng } from '../kit/hostile-frames.js';

/** The node id the hostile frames name as their reply node (the test subscribes to its reply subject). */
export const SPY = 'hostile-spy';

export type Subject = 'node' | 'reply' | 'hb';

export interface HostileEnvelope {
  readonly what: string;
  readonly subject: Subject;
  readonly data: Uint8Array;
  /** The answer the node must publish to SPY for `corr`, when the frame has a readable reply address. */
  readonly expect?: { readonly corr: number; readonly code: string };
  /** At least this many `badMessages` (frames not of the documented shape; random bytes count 0: they may decode to anything). */
  readonly bad: number;
  readonly spawnRefused: number;
  readonly stray: number;
}

function pick<T>(rng: Rng, items: readonly T[]): T {
  return items[Math.floor(rng() * items.length)]!;
}

function between(rng: Rng, min: number, max: number): number {
  return min + Math.floor(rng() * (max - min + 1));
}

const ASK = 1;
const SPAWN = 2;
const STOP = 3;
const WATCH = 4;
const EXPLICIT = 8;

type Make = (rng: Rng, corr: number) => Omit<HostileEnvelope, 'what'>;

const none = { bad: 0, spawnRefused: 0, stray: 0 } as const;
const answered = (subject: Subject, data: Uint8Array, corr: number, code: string, extra: Partial<HostileEnvelope> = {}): Omit<HostileEnvelope, 'what'> => ({
  ...none,
  subject,
  data,
  expect: { corr, code },
  bad: code === 'bad_message' ? 1 : 0,
  ...extra,
});
const counted = (subject: Subject, data: Uint8Array): Omit<HostileEnvelope, 'what'> => ({ ...none, subject, data, bad: 1 });

const msg = { type: 'echo', value: 1 };

const KINDS: Readonly<Record<string, Make>> = {
  // --- not MessagePack, or not an envelope: counted, nobody to answer -----------------------------
  'random bytes': (rng) => ({ ...none, subject: pick<Subject>(rng, ['node', 'reply']), data: Uint8Array.from({ length: between(rng, 1, 200) }, () => Math.floor(rng() * 256)) }),
  'truncated ask': (rng, corr) => {
    const full = enc([ASK, 'echo', 'h', msg, SPY, corr]);
    return counted('node', full.subarray(0, between(rng, 1, full.length - 1)));
  },
  'extension value': (rng) => counted('node', pick(rng, Object.values(EXTENSION_VALUES).filter((v) => v.length > 4))),
  'reference bomb': () => counted('node', referenceBomb(40)),
  'nesting too deep': () => counted('node', nested(100_000)),
  'not an array': (rng) => counted('node', enc(pick<unknown>(rng, [0, 'ask', { op: 1 }, null, true, new Uint8Array(4), [1, 'k']]))),
  'ask without reply address': () => counted('node', enc([ASK, 'echo', 'h', msg])),
  'ask with a bad reply node': (rng, corr) => counted('node', enc([ASK, 'echo', 'h', msg, pick(rng, ['has space', '', 'x'.repeat(65), 'a.b', 7]), corr])),
  'ask with a 2^60 corr': () => counted('node', enc([ASK, 'echo', 'h', msg, SPY, 2n ** 60n])),
  'watch with a bad body': (rng) => counted('node', enc([WATCH, 'watcher', 'w', pick<unknown>(rng, ['x', [1, 2], [], ['k', 'i', 'bad node!']])])),
  'heartbeat garbage': (rng) => counted('hb', enc(pick<unknown>(rng, [{ t: 'hb' }, { t: 'hb', id: 'bad id!' }, { t: 'hb', id: 'n', roles: 'x' }, 'hb', [1, 2]]))),
  // --- readable reply address: answered with the documented code ----------------------------------
  'unknown op': (rng, corr) => answered('node', enc([pick(rng, [7, 15, 16, 255, 1.5, -1, 'ask', null]), 'echo', 'h', msg, SPY, corr]), corr, 'bad_message'),
  'kind of the wrong type': (rng, corr) => answered('node', enc([ASK, pick<unknown>(rng, [42, null, ['echo'], {}, '']), 'h', msg, SPY, corr]), corr, 'bad_message'),
  'kind too long': (rng, corr) => answered('node', enc([ASK, 'k'.repeat(between(rng, 65, 5_000)), 'h', msg, SPY, corr]), corr, 'bad_message'),
  'id too long': (rng, corr) => answered('node', enc([ASK | EXPLICIT, 'flaky', 'i'.repeat(between(rng, 513, 50_000)), msg, SPY, corr]), corr, 'bad_message'),
  'id of the wrong type': (rng, corr) => answered('node', enc([ASK, 'echo', pick<unknown>(rng, [1, null, ['x'], { id: 'x' }]), msg, SPY, corr]), corr, 'bad_message'),
  'message not a map with a type': (rng, corr) => answered('node', enc([ASK, 'echo', 'h', pick<unknown>(rng, ['echo', 5, [], {}, { type: 5 }, null]), SPY, corr]), corr, 'bad_message'),
  'bad hops': (rng, corr) => answered('node', enc([ASK, 'echo', 'h', msg, SPY, corr, pick<unknown>(rng, [-1, 'x', 2n ** 60n, 1.5])]), corr, 'bad_message'),
  'ask to an unknown kind': (rng, corr) => answered('node', enc([ASK, pick(rng, ['nokind', 'session', 'Echo']), 'h', msg, SPY, corr]), corr, 'no_such_actor'),
  'ask to an explicit actor not running': (_rng, corr) => answered('node', enc([ASK | EXPLICIT, 'flaky', 'nobody', { type: 'ping' }, SPY, corr]), corr, 'no_such_actor'),
  'spawn of an unknown kind': (_rng, corr) => answered('node', enc([SPAWN, 'nokind', 'x', null, SPY, corr]), corr, 'no_such_actor', { spawnRefused: 1 }),
  'spawn of a local-only kind': (rng, corr) => answered('node', enc([SPAWN | EXPLICIT, 'local-only', `l${between(rng, 0, 9)}`, { socket: 1 }, SPY, corr]), corr, 'spawn_refused', { spawnRefused: 1 }),
  'spawn of a virtual kind': (_rng, corr) => answered('node', enc([SPAWN, 'echo', 'x', null, SPY, corr]), corr, 'bad_message', { spawnRefused: 1, bad: 0 }),
  'stop of an unknown kind': (_rng, corr) => answered('node', enc([STOP, 'nokind', 'x', null, SPY, corr]), corr, 'no_such_actor'),
  'stop of an explicit actor not running': (_rng, corr) => answered('node', enc([STOP | EXPLICIT, 'flaky', 'nobody', null, SPY, corr]), corr, 'no_such_actor'),
  // --- forged replies to the node's reply subject --------------------------------------------------
  'reply to no ask': (rng) => ({ ...none, subject: 'reply', data: enc(pick<unknown[]>(rng, [[between(rng, 1e9, 2e9), 'forged'], [between(rng, 1e9, 2e9), 'timeout', 'forged'], [between(rng, 1e9, 2e9), 'no_such_code', 'x', 'y']])), stray: 1 }),
  'reply not of the reply shape': (rng) => counted('reply', enc(pick<unknown>(rng, ['ok', [1], [1, 2, 3, 4, 5], ['c', 1], { corr: 1 }, [2n ** 60n, 1]]))),
};

export const HOSTILE_KINDS: readonly string[] = Object.keys(KINDS);

export function hostileEnvelope(rng: Rng, corr: number, what: string = pick(rng, HOSTILE_KINDS)): HostileEnvelope {
  return { what, ...KINDS[what]!(rng, corr) };
}

/** A good ask from SPY to `kind/id` (explicit when `explicit`), answered with [corr, value]. */
export function goodAsk(kind: string, id: string, explicit: boolean, message: Record<string, unknown>, corr: number): Uint8Array {
  return enc([explicit ? ASK | EXPLICIT : ASK, kind, id, message, SPY, corr]);
}

export { cat };
