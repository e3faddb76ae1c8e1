/**
 * Weighted rendezvous (highest random weight) hashing.
 *
 * For a key k and candidates c with weights w_c, each candidate scores
 *
 *   score(k, c) = -w_c / ln(u(k, c))        u in (0, 1), uniform, from 53 bits of hash(k, c)
 *
 * and the highest score wins. The winner is a pure function of (key, candidate ids, weights): every
 * process that sees the same candidates picks the same one, with no shared state. Candidate c wins a
 * share w_c / sum(w) of the keys, and when a candidate joins or leaves only the keys it wins (or won)
 * move: about 1/N of them.
 *
 * The hash is two 32-bit murmur3-style lanes over the UTF-16 code units of the string, so it stays in
 * Math.imul arithmetic (no BigInt, no node:crypto call per candidate). Each candidate's id is hashed
 * once when it is prepared; per key the work is one string hash plus one 2-lane mix per candidate.
 * The runtime has its own rendezvous pick (runtime/placement.ts) for placing actors; this one is
 * separate because the distributor picks per request over a set that changes rarely: candidates are
 * hashed once per membership change, not once per pick, and the winner comes back as the candidate
 * itself (the socket server), not an id to look up.
 *
 * This is not a cryptographic hash: an attacker who picks user ids can choose which server they land
 * on, which is harmless here (each connection still counts against rate limits and capacity).
 */

/** A candidate as callers describe it. `weight` > 0 (a capacity); others are ignored. */
export interface RendezvousCandidate {
  readonly id: string;
  readonly weight: number;
}

/** A candidate with its id hashed once, ready for many picks. */
export interface PreparedCandidate<T extends RendezvousCandidate = RendezvousCandidate> {
  readonly candidate: T;
  readonly h1: number;
  readonly h2: number;
}

const C1 = 0xcc9e2d51;
const C2 = 0x1b873593;
const SEED1 = 0x2f6b1d3a;
const SEED2 = 0x9e3779b9;
const TWO_POW_53 = 9007199254740992;

function fmix32(x: number): number {
  x ^= x >>> 16;
  x = Math.imul(x, 0x85ebca6b);
  x ^= x >>> 13;
  x = Math.imul(x, 0xc2b2ae35);
  x ^= x >>> 16;
  return x >>> 0;
}

function round(h: number, k: number): number {
  k = Math.imul(k, C1);
  k = (k << 15) | (k >>> 17);
  k = Math.imul(k, C2);
  h ^= k;
  h = (h << 13) | (h >>> 19);
  return (Math.imul(h, 5) + 0xe6546b64) | 0;
}

/**
 * Two independent 32-bit hashes of `text` (murmur3 rounds over pairs of UTF-16 code units, two seeds).
 * Returned through `out` so the hot path allocates nothing.
 */
export function hashString2(text: string, out: [number, number]): void {
  let h1 = SEED1;
  let h2 = SEED2;
  const n = text.length;
  let i = 0;
  for (; i + 1 < n; i += 2) {
    const k = text.charCodeAt(i) | (text.charCodeAt(i + 1) << 16);
    h1 = round(h1, k);
    h2 = round(h2, k ^ 0x5bd1e995);
  }
  if (i < n) {
    const k = text.charCodeAt(i);
    h1 = round(h1, k);
    h2 = round(h2, k ^ 0x5bd1e995);
  }
  h1 ^= n;
  h2 ^= n;
  // Cross the lanes before finalising so neither lane alone decides the result.
  h1 = (h1 + h2) | 0;
  h2 = (h2 + h1) | 0;
  out[0] = fmix32(h1);
  out[1] = fmix32(h2);
}

const scratch: [number, number] = [0, 0];

/** Hashes each candidate's id once, for repeated picks over the same set. Drops weights <= 0 or not finite. */
export function prepareCandidates<T extends RendezvousCandidate>(candidates: readonly T[]): PreparedCandidate<T>[] {
  const prepared: PreparedCandidate<T>[] = [];
  for (const candidate of candidates) {
    if (!(candidate.weight > 0) || !Number.isFinite(candidate.weight)) continue;
    hashString2(candidate.id, scratch);
    prepared.push({ candidate, h1: scratch[0], h2: scratch[1] });
  }
  return prepared;
}

/**
 * u(k, c) in (0, 1) from the key's and the candidate's hashes: both lanes are mixed with both
 * sides and finalised, then 53 bits are taken (21 from one lane, 32 from the other). The `+ 0.5`
 * keeps u strictly inside (0, 1), so ln(u) is finite and negative.
 */
function unitScore(k1: number, k2: number, c1: number, c2: number): number {
  let a = k1 ^ c1;
  let b = k2 ^ c2;
  a = fmix32((a + Math.imul(b, 0x9e3779b1)) | 0);
  b = fmix32((b ^ Math.imul(a, 0x85ebca6b)) | 0);
  a = fmix32((a ^ Math.imul(b, 0xc2b2ae35)) | 0);
  return ((a >>> 11) * 4294967296 + b + 0.5) / TWO_POW_53;
}

/** The winning candidate for `key` among prepared candidates, or undefined when there are none. */
export function pickPrepared<T extends RendezvousCandidate>(key: string, prepared: readonly PreparedCandidate<T>[]): T | undefined {
  const n = prepared.length;
  if (n === 0) return undefined;
  if (n === 1) return prepared[0]!.candidate;
  hashString2(key, scratch);
  const k1 = scratch[0];
  const k2 = scratch[1];
  let best: PreparedCandidate<T> | undefined;
  let bestScore = -Infinity;
  for (let i = 0; i < n; i++) {
    const p = prepared[i]!;
    const score = -p.candidate.weight / Math.log(unitScore(k1, k2, p.h1, p.h2));
    // Ties (practically impossible) go to the smaller id, so every process agrees.
    if (score > bestScore || (score === bestScore && best !== undefined && p.candidate.id < best.candidate.id)) {
      best = p;
      bestScore = score;
    }
  }
  return best?.candidate;
}

/**
 * The winning candidate for `key`, or undefined when no candidate has a positive weight.
 * Convenience form; hot paths prepare the candidates once with prepareCandidates().
 */
export function rendezvousWinner<T extends RendezvousCandidate>(key: string, candidates: readonly T[]): T | undefined {
  return pickPrepared(key, prepareCandidates(candidates));
}

/** Exposed for tests: u(key, id) in (0, 1). */
export function rendezvousUnit(key: string, id: string): number {
  const k: [number, number] = [0, 0];
  const c: [number, number] = [0, 0];
  hashString2(key, k);
  hashString2(id, c);
  return unitScore(k[0], k[1], c[0], c[1]);
}
