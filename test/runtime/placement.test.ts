/**
 * Rendezvous hashing: balance, minimal movement, weights, and agreement between the weighted and
 * the runtime's pre-hashed pick.
 */
import { describe, expect, it } from 'vitest';
import { hash53, pickByRendezvous } from '../../runtime/mod.js';
import { hashLanes, pickHashed } from '../../runtime/internal.js';

const keys = Array.from({ length: 40_000 }, (_, i) => `counter/user-${i}`);
const nodes = (n: number): { id: string; weight: number }[] => Array.from({ length: n }, (_, i) => ({ id: `node-${i}`, weight: 1 }));

function spread(cands: { id: string; weight: number }[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const k of keys) {
    const w = pickByRendezvous(k, cands)!;
    m.set(w, (m.get(w) ?? 0) + 1);
  }
  return m;
}

describe('rendezvous placement', () => {
  it('placement - keys spread evenly over four nodes (max/mean at most 1.05 over 40k keys)', () => {
    const counts = [...spread(nodes(4)).values()];
    const mean = keys.length / 4;
    expect(counts.length).toBe(4);
    expect(Math.max(...counts) / mean).toBeLessThan(1.05);
  });

  it('placement - a fifth node takes about 1/5 of the keys and nothing else moves', () => {
    const four = nodes(4);
    const five = nodes(5);
    let moved = 0;
    for (const k of keys) {
      const before = pickByRendezvous(k, four);
      const after = pickByRendezvous(k, five);
      if (before !== after) {
        moved++;
        expect(after).toBe('node-4');
      }
    }
    expect(moved / keys.length).toBeGreaterThan(0.17);
    expect(moved / keys.length).toBeLessThan(1.2 / 5);
  });

  it('placement - weights scale the share, weight 0 takes nothing', () => {
    const m = spread([{ id: 'a', weight: 1 }, { id: 'b', weight: 2 }, { id: 'c', weight: 1 }, { id: 'z', weight: 0 }]);
    expect(m.get('z')).toBeUndefined();
    const ratio = m.get('b')! / ((m.get('a')! + m.get('c')!) / 2);
    expect(ratio).toBeGreaterThan(1.85);
    expect(ratio).toBeLessThan(2.15);
    expect(pickByRendezvous('x', [])).toBeUndefined();
  });

  it('placement - the unweighted fast pick agrees with the weighted pick at equal weights', () => {
    const cands = nodes(7);
    const hashed = cands.map((c) => ({ id: c.id, lanes: hashLanes(c.id) }));
    for (const k of keys.slice(0, 5_000)) expect(pickHashed(hashLanes(k), hashed)).toBe(pickByRendezvous(k, cands));
  });

  it('hash - hash53 is a deterministic safe integer and spreads over buckets', () => {
    expect(hash53('abc')).toBe(hash53('abc'));
    expect(Number.isSafeInteger(hash53('abc'))).toBe(true);
    const buckets = new Array<number>(64).fill(0);
    for (const k of keys) buckets[hash53(k) % 64]!++;
    const mean = keys.length / 64;
    expect(Math.max(...buckets) / mean).toBeLessThan(1.15);
    expect(Math.min(...buckets) / mean).toBeGreaterThan(0.85);
  });
});
