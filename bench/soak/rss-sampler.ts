/**
 * RSS samples of a fixed set of processes, taken every few seconds, and the growth statistic R6 is
 * judged on: the median of the last N samples against the median of the first N after warm-up. A
 * median, not one reading, because a single reading can land mid-GC or mid-compaction.
 */
import { rssOf } from '../load/proc.js';

export interface SampledProcess {
  readonly name: string;
  readonly pid: number;
}

export interface RssSample {
  /** Milliseconds since the soak started. */
  readonly atMs: number;
  /** RSS in bytes by process name; absent when the process could not be read (gone). */
  readonly rss: Readonly<Record<string, number>>;
}

export interface ProcessGrowth {
  readonly name: string;
  /** Samples of this process after warm-up. */
  readonly samples: number;
  /** Samples in each window (first N after warm-up, last N). */
  readonly window: number;
  readonly startBytes: number;
  readonly endBytes: number;
  readonly peakBytes: number;
  /** (end - start) / start, in percent; negative when memory shrank. */
  readonly growthPct: number;
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Takes one sample of every process (a process that cannot be read is left out of that sample). */
export async function sampleRss(processes: readonly SampledProcess[], atMs: number): Promise<RssSample> {
  const readings = await Promise.all(
    // Gone or unreadable: the missing sample shows in the per-process sample count.
    processes.map((p) => rssOf(p.pid).then((bytes) => [p.name, bytes] as const, () => undefined)),
  );
  // Built in the order of `processes`, so progress lines read the same way every time.
  const rss: Record<string, number> = {};
  for (const r of readings) if (r) rss[r[0]] = r[1];
  return { atMs, rss };
}

/**
 * Growth of each process over the samples taken at or after `warmupMs`. The window is a quarter of
 * those samples, at least 3 and at most 12 (a minute at the default 5-s interval). A process with
 * fewer than 2 windows' worth of samples gets no growth (it is reported with `samples` so the caller can fail it).
 */
export function growthAfterWarmup(processes: readonly SampledProcess[], samples: readonly RssSample[], warmupMs: number): ProcessGrowth[] {
  return processes.map((p) => {
    const values = samples.filter((s) => s.atMs >= warmupMs && s.rss[p.name] !== undefined).map((s) => s.rss[p.name]!);
    const window = Math.max(3, Math.min(12, Math.floor(values.length / 4)));
    if (values.length < 2 * window) return { name: p.name, samples: values.length, window, startBytes: 0, endBytes: 0, peakBytes: Math.max(0, ...values), growthPct: Number.NaN };
    const startBytes = median(values.slice(0, window));
    const endBytes = median(values.slice(-window));
    return { name: p.name, samples: values.length, window, startBytes, endBytes, peakBytes: Math.max(...values), growthPct: ((endBytes - startBytes) / startBytes) * 100 };
  });
}
