/**
 * How figures are taken: a closed loop with a fixed number of operations in flight (each lane awaits
 * its operation, then starts the next) for a fixed time, and timed batches for in-process throughput.
 * Every measure has a watchdog: a peer that stops answering fails the measure instead of hanging.
 */
import { performance } from 'node:perf_hooks';
import { BenchAbortedError, BenchMeasureError } from './errors.js';

/** What one measure counted. */
export interface Sample {
  readonly ops: number;
  readonly elapsedMs: number;
  /** Per-operation latency in ms, when asked for. */
  readonly latenciesMs?: readonly number[];
}

/** A figure combined from one or more rounds (see {@link pool}). */
export interface Figure {
  readonly opsPerSec: number;
  readonly ops: number;
  readonly p50Ms?: number;
  readonly p99Ms?: number;
}

export interface LoadOptions {
  /** Shown in errors. */
  readonly name: string;
  readonly inFlight: number;
  readonly durationMs: number;
  readonly recordLatency?: boolean;
  readonly signal?: AbortSignal;
  /** How long past the end a measure may take before the peer counts as stalled (default 15 s). */
  readonly stallMs?: number;
}

/** Rejects when `signal` aborts or `ms` pass, whichever first; `cancel` disarms it. */
function guard(name: string, ms: number, signal: AbortSignal | undefined): { promise: Promise<never>; cancel: () => void } {
  let cancel = (): void => undefined;
  const promise = new Promise<never>((_, reject) => {
    const onAbort = (): void => reject(new BenchAbortedError());
    const timer = setTimeout(
      () => reject(new BenchMeasureError(`${name} stopped answering: a measure ran ${ms} ms without finishing; see the worker logs above`)),
      ms,
    );
    signal?.addEventListener('abort', onAbort, { once: true });
    cancel = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    };
  });
  promise.catch(() => undefined); // the race below observes it; a late rejection must not crash
  return { promise, cancel };
}

/** How long a closed loop runs before it lets the event loop turn once (not timed). */
const YIELD_EVERY_MS = 5;

/**
 * Runs `op` in `inFlight` lanes for `durationMs`. `op(i)` gets a sequence number unique in this
 * call. An operation that resolves with a number reports its own latency in ms (one that does untimed
 * setup first, such as a commit before the pull being measured); otherwise its whole call is timed.
 * Throws BenchMeasureError when an operation fails or the peer stalls.
 */
export async function closedLoop(op: (seq: number) => Promise<void | number>, o: LoadOptions): Promise<Sample> {
  if (o.signal?.aborted) throw new BenchAbortedError();
  const latencies: number[] | undefined = o.recordLatency ? [] : undefined;
  const start = performance.now();
  const end = start + o.durationMs;
  let ops = 0;
  let seq = 0;
  let stop = false;
  let lastYield = start;
  const lane = async (): Promise<void> => {
    while (!stop && performance.now() < end) {
      // An operation served from memory resolves in microtasks alone: without a turn of the event loop
      // now and then, the loop would starve the process's timers and sockets for the whole measure,
      // and a runtime node living in this process (S1's store actor) would see a stall and fence itself.
      if (performance.now() - lastYield >= YIELD_EVERY_MS) {
        await new Promise<void>((r) => setImmediate(r));
        lastYield = performance.now();
      }
      const t0 = performance.now();
      const own = await op(seq++);
      ops++;
      if (latencies) latencies.push(typeof own === 'number' ? own : performance.now() - t0);
    }
  };
  const g = guard(o.name, o.durationMs + (o.stallMs ?? 15_000), o.signal);
  try {
    await Promise.race([Promise.all(Array.from({ length: o.inFlight }, lane)), g.promise]);
  } catch (err) {
    if (err instanceof BenchAbortedError || err instanceof BenchMeasureError) throw err;
    throw new BenchMeasureError(`${o.name} failed during the measure: ${(err as Error).message}`, { cause: err });
  } finally {
    stop = true;
    g.cancel();
  }
  const elapsedMs = performance.now() - start;
  return latencies ? { ops, elapsedMs, latenciesMs: latencies } : { ops, elapsedMs };
}

/**
 * Calls `batch` until `durationMs` have passed; `batch` returns how many operations it completed.
 * For in-process throughput, where one call does many operations and the clock is read per batch.
 */
export async function timedBatches(
  name: string,
  durationMs: number,
  batch: () => number | Promise<number>,
  signal?: AbortSignal,
): Promise<Sample> {
  const start = performance.now();
  const end = start + durationMs;
  const g = guard(name, durationMs + 15_000, signal);
  let ops = 0;
  try {
    const loop = async (): Promise<void> => {
      while (performance.now() < end && !signal?.aborted) ops += await batch();
    };
    await Promise.race([loop(), g.promise]);
  } catch (err) {
    if (err instanceof BenchAbortedError || err instanceof BenchMeasureError) throw err;
    throw new BenchMeasureError(`${name} failed during the measure: ${(err as Error).message}`, { cause: err });
  } finally {
    g.cancel();
  }
  if (signal?.aborted) throw new BenchAbortedError();
  return { ops, elapsedMs: performance.now() - start };
}

/** Nearest-rank percentile of ascending `sorted` (q in 0..1). */
export function percentile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[rank] ?? Number.NaN;
}

/**
 * Combines the rounds of one contender: throughput is the median of the rounds' rates (a round hit
 * by a burst of other work on a shared machine does not drag the figure), latency percentiles are
 * taken over every round's latencies.
 */
export function pool(samples: readonly Sample[]): Figure {
  const ops = samples.reduce((a, s) => a + s.ops, 0);
  const rates = samples.map((s) => (s.elapsedMs > 0 ? (s.ops * 1000) / s.elapsedMs : 0)).sort((a, b) => a - b);
  const mid = rates.length >> 1;
  const opsPerSec = rates.length === 0 ? 0 : rates.length % 2 === 1 ? rates[mid]! : (rates[mid - 1]! + rates[mid]!) / 2;
  const lat = samples.flatMap((s) => s.latenciesMs ?? []);
  if (lat.length === 0) return { opsPerSec, ops };
  const sorted = Array.from(Float64Array.from(lat).sort());
  return { opsPerSec, ops, p50Ms: percentile(sorted, 0.5), p99Ms: percentile(sorted, 0.99) };
}
