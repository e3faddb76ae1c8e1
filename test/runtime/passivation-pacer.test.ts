import { describe, expect, it } from 'vitest';
import { PassivationPacer } from '../../runtime/internal.js';

/** A passivation the test ends by hand. */
function gate(): { promise: Promise<void>; end: () => void } {
  let end!: () => void;
  const promise = new Promise<void>((resolve) => (end = resolve));
  return { promise, end };
}

const settle = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('runtime - passivation pacer', () => {
  it('pacer - starts at most `limit` passivations at a time, the next as each ends, each idle actor once', async () => {
    const running = new Map<number, () => void>();
    let most = 0;
    const started: number[] = [];
    const pacer = new PassivationPacer<number>(3, (n) => {
      const g = gate();
      running.set(n, g.end);
      started.push(n);
      most = Math.max(most, running.size);
      return g.promise.then(() => void running.delete(n));
    });
    for (let n = 0; n < 10; n++) pacer.offer(n);
    pacer.offer(4); // offered again while it waits: still once
    expect([pacer.inFlight, pacer.waiting]).toEqual([3, 7]);
    while (started.length < 10 || running.size > 0) {
      const first = running.keys().next();
      if (first.done === true) break;
      running.get(first.value)!();
      await settle();
    }
    expect(most).toBe(3);
    expect(started).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect([pacer.inFlight, pacer.waiting]).toEqual([0, 0]);
  });

  it('pacer - skips an actor that is no longer idle when its turn comes, and a failed passivation frees its place', async () => {
    const busy = new Set([1, 2]);
    const started: number[] = [];
    const pacer = new PassivationPacer<number>(1, (n) => {
      if (busy.has(n)) return undefined;
      started.push(n);
      return n === 0 ? Promise.reject(new Error('lease release failed')) : Promise.resolve();
    });
    for (const n of [0, 1, 2, 3]) pacer.offer(n);
    await settle();
    expect(started).toEqual([0, 3]);
    expect([pacer.inFlight, pacer.waiting]).toEqual([0, 0]);
  });

  it('pacer - clear() forgets what waits; a limit that is not a positive integer is refused', async () => {
    const ends: (() => void)[] = [];
    const pacer = new PassivationPacer<number>(1, () => {
      const g = gate();
      ends.push(g.end);
      return g.promise;
    });
    for (const n of [0, 1, 2]) pacer.offer(n);
    pacer.clear();
    ends[0]!();
    await settle();
    expect([ends.length, pacer.inFlight, pacer.waiting]).toEqual([1, 0, 0]);
    expect(() => new PassivationPacer<number>(0, () => undefined)).toThrow(/positive integer/);
  });
});
