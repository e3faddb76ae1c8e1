/**
 * Rendezvous (highest random weight) hashing: each (key, candidate) pair gets a pseudo-random
 * score and the candidate with the highest score wins. When a candidate joins or leaves, only the
 * keys it wins (or won) move: about 1/N of them.
 *
 * The hash is a 53-bit mix of two 32-bit lanes (cyrb53-style multiply/xor-shift avalanche), which
 * needs no BigInt and no allocation. The score of a pair combines the key's hash with the
 * candidate's hash through a second avalanche, so a key is hashed once per pick.
 */

/** Two 32-bit lanes of a string hash. Internal: the runtime caches the lanes of node ids. */
export interface HashLanes {
  readonly h1: number;
  readonly h2: number;
}

function lanes(text: string, seed: number): HashLanes {
  let h1 = 0xdeadbeef ^ seed;
  let h2 = 0x41c6ce57 ^ seed;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    h1 = Math.imul(h1 ^ c, 2654435761);
    h2 = Math.imul(h2 ^ c, 1597334677);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507);
  h1 ^= Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507);
  h2 ^= Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return { h1: h1 >>> 0, h2: h2 >>> 0 };
}

/** The two hash lanes of `text` (UTF-16 code units). */
export function hashLanes(text: string): HashLanes {
  return lanes(text, 0);
}

/** A well-distributed 53-bit hash of `text`, as a non-negative safe integer. */
export function hash53(text: string, seed = 0): number {
  const { h1, h2 } = lanes(text, seed);
  return 4294967296 * (h2 & 2097151) + h1;
}

/** Score of (key, candidate) in [0, 2^53): an avalanche of both lanes of each. */
export function pairScore(key: HashLanes, candidate: HashLanes): number {
  let a = key.h1 ^ candidate.h2;
  let b = key.h2 ^ candidate.h1;
  a = Math.imul(a ^ (a >>> 16), 0x85ebca6b);
  b = Math.imul(b ^ (b >>> 15), 0xc2b2ae35);
  a ^= Math.imul(b ^ (b >>> 13), 0x27d4eb2f);
  b ^= Math.imul(a ^ (a >>> 16), 0x165667b1);
  a = Math.imul(a ^ (a >>> 15), 0x85ebca6b);
  b = Math.imul(b ^ (b >>> 13), 0xc2b2ae35);
  return 4294967296 * ((b >>> 0) & 2097151) + (a >>> 0);
}

const TWO_53 = 9007199254740992;

/**
 * Weighted rendezvous hashing: returns the id of the candidate that wins `key`, or undefined when
 * there is none (or every weight is 0). A candidate with twice the weight wins about twice as many
 * keys. Score = -weight / ln(u), u in (0, 1) from the pair hash (Schindelhauer & Schomaker).
 */
export function pickByRendezvous(key: string, candidates: readonly { id: string; weight: number }[]): string | undefined {
  const k = hashLanes(key);
  let best: string | undefined;
  let bestScore = -Infinity;
  for (const c of candidates) {
    if (!(c.weight > 0)) continue;
    const u = (pairScore(k, hashLanes(c.id)) + 0.5) / TWO_53;
    const score = -c.weight / Math.log(u);
    if (score > bestScore || (score === bestScore && best !== undefined && c.id < best)) {
      bestScore = score;
      best = c.id;
    }
  }
  return best;
}

/**
 * Unweighted pick over pre-hashed candidates (the runtime's hot path: no allocation).
 * Ties (practically impossible) go to the smaller id, so every node picks the same.
 */
export function pickHashed(key: HashLanes, candidates: readonly { readonly id: string; readonly lanes: HashLanes }[]): string | undefined {
  let best: string | undefined;
  let bestScore = -1;
  for (let i = 0; i < candidates.length; i++) {
    const c = candidates[i]!;
    const s = pairScore(key, c.lanes);
    if (s > bestScore || (s === bestScore && best !== undefined && c.id < best)) {
      bestScore = s;
      best = c.id;
    }
  }
  return best;
}
