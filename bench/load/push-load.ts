/**
 * Targeted pushes at a fixed rate, open loop: every few ms the driver sends as many pushes as the
 * clock says are due, each from one device of a user to that user's device on the other node. A pair
 * carries one push at a time (so a receipt is never confused with another); a pair still busy when its
 * turn comes is skipped and counted, so a rate that could not be held shows in the result.
 */
import { performance } from 'node:perf_hooks';
import { encodeHistogram, newHistogram, recordMs } from './hist.js';
import type { LoadResult } from './ipc.js';

/** Sends push `seq` on pair `pair`; resolves when the sender got its answer (if the protocol has one). */
export type EmitFn = (pair: number, seq: number) => Promise<unknown> | void;

interface InFlight {
  readonly seq: number;
  readonly t0: number;
  readonly measured: boolean;
}

const TICK_MS = 2;
/** A push slower than this counts in the run's seconds (LoadResult.slowBySecond): stalls or spread-out queueing. */
export const SLOW_PUSH_MS = 25;
/** A push not received within this is counted lost and its pair freed. */
const LOST_AFTER_MS = 10_000;

export class PushLoad {
  readonly #inFlight = new Map<number, InFlight>();
  #push = newHistogram();
  #answer = newHistogram();
  #sent = 0;
  #received = 0;
  #skipped = 0;
  #errors = 0;
  #firstError: string | undefined;
  #hasAnswers = false;
  /** Measured pushes slower than SLOW_PUSH_MS, by second of the measured window (by send time). */
  readonly #slowBySecond: number[] = [];
  #measureFrom = 0;

  constructor(
    private readonly pairs: number,
    private readonly emit: EmitFn,
  ) {}

  /** The receiving device of `pair` got a push; `seq` when the protocol carries it. */
  received(pair: number, seq?: number): void {
    const f = this.#inFlight.get(pair);
    if (!f || (seq !== undefined && seq !== f.seq)) return;
    this.#inFlight.delete(pair);
    if (!f.measured) return;
    this.#received++;
    const ms = performance.now() - f.t0;
    recordMs(this.#push, ms);
    if (ms > SLOW_PUSH_MS) {
      const second = Math.max(0, Math.floor((f.t0 - this.#measureFrom) / 1000));
      while (this.#slowBySecond.length <= second) this.#slowBySecond.push(0);
      this.#slowBySecond[second]!++;
    }
  }

  #error(err: unknown): void {
    this.#errors++;
    this.#firstError ??= err instanceof Error ? err.message : String(err);
  }

  /** Runs `warmupMs` unrecorded, then `durationMs` recorded, at `ratePerSec` over this process's pairs. */
  async run(ratePerSec: number, warmupMs: number, durationMs: number): Promise<LoadResult> {
    if (this.pairs === 0 || ratePerSec <= 0) {
      return { sent: 0, received: 0, skipped: 0, errors: 0, pushHist: encodeHistogram(this.#push), elapsedMs: 0 };
    }
    const start = performance.now();
    const measureFrom = start + warmupMs;
    this.#measureFrom = measureFrom;
    const end = measureFrom + durationMs;
    let issued = 0;
    let seq = 0;
    let next = 0;
    await new Promise<void>((resolve) => {
      const timer = setInterval(() => {
        const now = performance.now();
        for (const [pair, f] of this.#inFlight) {
          if (now - f.t0 > LOST_AFTER_MS) {
            this.#inFlight.delete(pair);
            if (f.measured) this.#error(new Error(`push ${f.seq} not received within ${LOST_AFTER_MS} ms`));
          }
        }
        if (now >= end) {
          clearInterval(timer);
          resolve();
          return;
        }
        const due = Math.floor(((now - start) * ratePerSec) / 1000);
        for (; issued < due; issued++) {
          const pair = next;
          next = (next + 1) % this.pairs;
          const measured = now >= measureFrom;
          if (this.#inFlight.has(pair)) {
            if (measured) this.#skipped++;
            continue;
          }
          const s = seq++;
          const t0 = performance.now();
          this.#inFlight.set(pair, { seq: s, t0, measured });
          if (measured) this.#sent++;
          try {
            const answer = this.emit(pair, s);
            if (answer) {
              answer.then(
                () => {
                  this.#hasAnswers = true;
                  if (measured) recordMs(this.#answer, performance.now() - t0);
                },
                (err: unknown) => {
                  if (measured) this.#error(err);
                },
              );
            }
          } catch (err) {
            if (measured) this.#error(err);
          }
        }
      }, TICK_MS);
    });
    // Give the last pushes time to arrive (they count only if they do).
    const drainUntil = performance.now() + 3_000;
    while (this.#inFlight.size > 0 && performance.now() < drainUntil) await new Promise((r) => setTimeout(r, 20));
    return {
      sent: this.#sent,
      received: this.#received,
      skipped: this.#skipped,
      errors: this.#errors,
      ...(this.#firstError !== undefined && { firstError: this.#firstError }),
      pushHist: encodeHistogram(this.#push),
      ...(this.#hasAnswers && { answerHist: encodeHistogram(this.#answer) }),
      slowBySecond: this.#slowBySecond,
      elapsedMs: durationMs,
    };
  }
}
