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
 * The hash and the pair score are the runtime's (runtime/placement.ts: two 32-bit lanes in Math.imul
 * arithmetic, no BigInt, no node:crypto), so this gives the same winner as the runtime's
 * pickByRendezvous. What this file adds is the prepared form for the distributor's hot path: the set
 * changes rarely, so candidates are hashed once per membership change, not once per pick, and the
 * winner comes back as the candidate itself (the socket server), not an id to look up.
 *
 * This is not a cryptographic hash: an attacker who picks user ids can choose which server they land
 * on, which is harmless here (each connection still counts against rate limits and capacity).
 */

import { hashLanes, pairScore, type HashLanes } from '../../runtime/internal.js';

/** A candidate as callers describe it. `weight` > 0 (a capacity); others are ignored. */
export interface RendezvousCandidate {
  readonly id: string;
  readonly weight: number;
}

/** A candidate with its id hashed once, ready for many picks. */
export interface PreparedCandidate<T extends RendezvousCandidate = RendezvousCandidate> {
  readonly candidate: T;
  readonly lanes: HashLanes;
}

const TWO_POW_53 = 9007199254740992;

/** Hashes each candidate's id once, for repeated picks over the same set. Drops weights <= 0 or not finite. */
export function prepareCandidates<T extends RendezvousCandidate>(candidates: readonly T[]): PreparedCandidate<T>[] {
  const prepared: PreparedCandidate<T>[] = [];
  for (const candidate of candidates) {
    if (!(candidate.weight > 0) || !Number.isFinite(candidate.weight)) continue;
    prepared.push({ candidate, lanes: hashLanes(candidate.id) });
  }
  return prepared;
}

/** u(k, c) in (0, 1) from the 53-bit pair score; the `+ 0.5` keeps ln(u) finite and negative. */
function unitScore(key: HashLanes, candidate: HashLanes): number {
  return (pairScore(key, candidate) + 0.5) / TWO_POW_53;
}

/** The winning candidate for `key` among prepared candidates, or undefined when there are none. */
export function pickPrepared<T extends RendezvousCandidate>(key: string, prepared: readonly PreparedCandidate<T>[]): T | undefined {
  const n = prepared.length;
  if (n === 0) return undefined;
  if (n === 1) return prepared[0]!.candidate;
  const k = hashLanes(key);
  let best: PreparedCandidate<T> | undefined;
  let bestScore = -Infinity;
  for (let i = 0; i < n; i++) {
    const p = prepared[i]!;
    const score = -p.candidate.weight / Math.log(unitScore(k, p.lanes));
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
  return unitScore(hashLanes(key), hashLanes(id));
}
