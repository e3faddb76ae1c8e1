/**
 * The soak's growth statistic (bench/soak/rss-sampler.ts): medians of the first and last windows after
 * warm-up, so one outlier reading does not decide R6, and too few samples give no verdict at all.
 */
import { describe, expect, it } from 'vitest';
import { growthAfterWarmup, type RssSample } from '../../bench/soak/mod.js';

const MiB = 1024 * 1024;
const procs = [{ name: 'a', pid: 1 }];
const series = (values: number[], everyMs = 1000): RssSample[] => values.map((v, i) => ({ atMs: i * everyMs, rss: { a: v * MiB } }));

describe('soak - RSS growth after warm-up', () => {
  it('soak - compares the median of the last window with the median of the first window after warm-up', () => {
    // Warm-up (first 3 s) climbs to 100; then 12 samples: window 3.
    const [g] = growthAfterWarmup(procs, series([10, 50, 90, 100, 101, 99, 100, 102, 104, 105, 106, 108, 110, 110, 109]), 3000);
    expect(g!.window).toBe(3);
    expect(g!.startBytes).toBe(100 * MiB);
    expect(g!.endBytes).toBe(110 * MiB);
    expect(g!.growthPct).toBeCloseTo(10, 5);
  });

  it('soak - a single spike at the end does not count as growth', () => {
    const [g] = growthAfterWarmup(procs, series([100, 100, 100, 100, 100, 100, 100, 100, 100, 100, 100, 300]), 0);
    expect(g!.growthPct).toBe(0);
    expect(g!.peakBytes).toBe(300 * MiB);
  });

  it('soak - too few samples after warm-up give no growth figure', () => {
    const [g] = growthAfterWarmup(procs, series([100, 100, 100, 100, 100]), 0);
    expect(Number.isNaN(g!.growthPct)).toBe(true);
    expect(g!.samples).toBe(5);
  });

  it('soak - a process missing from the samples is reported with zero samples', () => {
    const [, b] = growthAfterWarmup([...procs, { name: 'b', pid: 2 }], series([100, 100, 100, 100, 100, 100]), 0);
    expect(b!.samples).toBe(0);
    expect(Number.isNaN(b!.growthPct)).toBe(true);
  });
});
