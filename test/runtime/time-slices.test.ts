/**
 * TimeSlices (runtime/time-slices.ts): inbound work handled at once while the node keeps up, and in
 * slices with turns of the event loop between them once it falls behind.
 */
import { describe, expect, it } from 'vitest';
import { TimeSlices } from '../../runtime/mod.js';

/** Keeps the thread busy for `ms` (an item's CPU work, stood in for). */
function spin(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until);
}

const nextTurn = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('TimeSlices (inbound work in time slices)', () => {
  it('handles an item at once while the turn has time left and none waits', () => {
    const done: number[] = [];
    const s = new TimeSlices<number>((n) => done.push(n), { sliceMs: 1_000 });
    s.push(1);
    s.push(2);
    expect(done).toEqual([1, 2]);
    expect(s.pending).toBe(0);
  });

  it('past the slice, items wait in order and go in later turns; a timer runs between slices', async () => {
    const done: number[] = [];
    const s = new TimeSlices<number>((n) => {
      spin(1);
      done.push(n);
    }, { sliceMs: 5 });
    for (let i = 0; i < 200; i++) s.push(i); // ~200 ms of work pushed in one turn (one socket read's messages)
    const atOnce = done.length;
    expect(atOnce).toBeGreaterThan(0); // the first slice's worth went at once
    expect(atOnce).toBeLessThan(200);
    expect(s.pending).toBe(200 - atOnce);
    let doneWhenTimerRan = -1;
    setTimeout(() => (doneWhenTimerRan = done.length), 0);
    while (done.length < 200) await nextTurn();
    expect(done).toEqual(Array.from({ length: 200 }, (_, i) => i)); // in order, each once
    expect(doneWhenTimerRan).toBeGreaterThanOrEqual(atOnce);
    expect(doneWhenTimerRan).toBeLessThan(200); // handled all at once, the timer would wait for all 200
    expect(s.pending).toBe(0);
  });

  it('an item pushed while others wait goes behind them, not at once', async () => {
    const done: number[] = [];
    const s = new TimeSlices<number>((n) => {
      spin(3);
      done.push(n);
    }, { sliceMs: 2 });
    s.push(0); // at once: the slice began with it
    s.push(1); // the slice is spent: waits
    expect(done).toEqual([0]);
    s.push(2);
    expect(s.pending).toBe(2);
    while (s.pending > 0) await nextTurn();
    expect(done).toEqual([0, 1, 2]);
    // A new turn with nothing waiting: at once again.
    await nextTurn();
    s.push(3);
    expect(done).toEqual([0, 1, 2, 3]);
  });

  it('inline: false waits for the next turn even when idle', async () => {
    const done: number[] = [];
    const s = new TimeSlices<number>((n) => done.push(n), { inline: false });
    s.push(1);
    expect(done).toEqual([]);
    await nextTurn();
    expect(done).toEqual([1]);
  });

  it('an item that throws is reported and the others still go', async () => {
    const done: number[] = [];
    const errors: unknown[] = [];
    const s = new TimeSlices<number>((n) => {
      if (n === 1) throw new Error('boom');
      done.push(n);
    }, { onError: (err) => errors.push(err) });
    for (let i = 0; i < 3; i++) s.push(i);
    while (s.pending > 0) await nextTurn();
    expect(done).toEqual([0, 2]);
    expect(errors).toHaveLength(1);
  });

  it('continuations: what an item settles counts in its slice, so a timer runs before a long backlog of answers is worked off', async () => {
    const worked: number[] = [];
    const s = new TimeSlices<number>(
      (n) => {
        // An answer settles a request; its continuation is the real work (a commit's next step).
        void Promise.resolve(n).then((v) => {
          spin(1);
          worked.push(v);
        });
      },
      { continuations: true, inlineMax: 4, sliceMs: 5 },
    );
    for (let i = 0; i < 100; i++) s.push(i); // one socket read's answers
    await Promise.resolve(); // the continuations of the items handled at once
    const atOnce = worked.length;
    expect(atOnce).toBe(4); // inlineMax: the rest wait, however cheap the handler itself is
    let workedWhenTimerRan = -1;
    setTimeout(() => (workedWhenTimerRan = worked.length), 0);
    while (worked.length < 100) await nextTurn();
    expect(worked).toEqual(Array.from({ length: 100 }, (_, i) => i));
    expect(workedWhenTimerRan).toBeGreaterThanOrEqual(atOnce);
    expect(workedWhenTimerRan).toBeLessThan(100); // counted only by the handler, all 96 would go in one slice
  });
});
