import { describe, expect, it } from 'vitest';
import { Teardown } from '../../gateway/socket/teardown.js';

/** Keeps the thread busy for `ms` (a teardown's CPU work, stood in for). */
function spin(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until);
}

function until(cond: () => boolean, timeoutMs = 5_000): Promise<void> {
  return new Promise((resolve, reject) => {
    const deadline = Date.now() + timeoutMs;
    const check = (): void => {
      if (cond()) resolve();
      else if (Date.now() > deadline) reject(new Error('condition not met in time'));
      else setTimeout(check, 1);
    };
    check();
  });
}

describe('Teardown (closed connections torn down in time slices)', () => {
  it('tears one item down at the next turn, not inside push()', async () => {
    const done: number[] = [];
    const t = new Teardown<number>((n) => done.push(n));
    t.push(1);
    expect(done).toEqual([]);
    expect(t.pending).toBe(1);
    await new Promise((r) => setImmediate(r));
    expect(done).toEqual([1]);
    expect(t.pending).toBe(0);
  });

  it('yields between slices, so a timer runs before a long burst is done', async () => {
    const done: number[] = [];
    const t = new Teardown<number>((n) => {
      spin(0.5);
      done.push(n);
    }, 5);
    for (let i = 0; i < 200; i++) t.push(i); // ~100 ms of work
    // The timer is set once the first slice has run: set before it, a loaded machine may reach the
    // timers phase first, and the timer would say nothing about slices.
    await new Promise((r) => setImmediate(r));
    const doneAfterFirstSlice = done.length;
    let doneWhenTimerRan = -1;
    setTimeout(() => (doneWhenTimerRan = done.length), 0);
    await until(() => done.length === 200);
    expect(done).toEqual(Array.from({ length: 200 }, (_, i) => i)); // in order, each once
    expect(doneAfterFirstSlice).toBeGreaterThan(0);
    expect(doneWhenTimerRan).toBeGreaterThanOrEqual(doneAfterFirstSlice);
    expect(doneWhenTimerRan).toBeLessThan(200); // without slices the timer waits for all 200
  });

  it('flush() tears everything down at once', () => {
    const done: number[] = [];
    const t = new Teardown<number>((n) => done.push(n));
    for (let i = 0; i < 50; i++) t.push(i);
    t.flush();
    expect(done).toHaveLength(50);
    expect(t.pending).toBe(0);
  });

  it('an item that throws is reported and the others still go', async () => {
    const done: number[] = [];
    const errors: unknown[] = [];
    const t = new Teardown<number>(
      (n) => {
        if (n === 2) throw new Error('boom');
        done.push(n);
      },
      5,
      (err) => errors.push(err),
    );
    for (let i = 0; i < 5; i++) t.push(i);
    await until(() => t.pending === 0);
    expect(done).toEqual([0, 1, 3, 4]);
    expect(errors).toHaveLength(1);
  });

  it('takes pushes made while a slice runs', async () => {
    const done: number[] = [];
    const t = new Teardown<number>((n) => {
      done.push(n);
      if (n < 3) t.push(n + 10);
    });
    t.push(0);
    t.push(1);
    t.push(2);
    await until(() => t.pending === 0 && done.length === 6);
    expect(done.sort((a, b) => a - b)).toEqual([0, 1, 2, 10, 11, 12]);
  });
});
