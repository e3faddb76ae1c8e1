/**
 * Latency histograms (HDR, hdr-histogram-js): values are recorded in microseconds, so a histogram
 * keeps 3 significant digits from 1 us to an hour in a few KB, whatever the number of samples. Client
 * processes send theirs to the main process compressed (base64), where they are added together.
 */
import * as hdr from 'hdr-histogram-js';

export type Histogram = hdr.Histogram;

/** Latency distribution in milliseconds. */
export interface LatencySummary {
  readonly count: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly p999Ms: number;
  readonly maxMs: number;
  readonly meanMs: number;
}

const HOUR_US = 3_600_000_000;

export function newHistogram(): Histogram {
  return hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: HOUR_US, numberOfSignificantValueDigits: 3, bitBucketSize: 32 });
}

/** Records one latency given in milliseconds (clamped into the histogram's range). */
export function recordMs(h: Histogram, ms: number): void {
  h.recordValue(Math.min(HOUR_US, Math.max(1, Math.round(ms * 1000))));
}

export function encodeHistogram(h: Histogram): string {
  return hdr.encodeIntoCompressedBase64(h);
}

/** Adds the encoded histograms together. */
export function mergeEncoded(encoded: readonly string[]): Histogram {
  const total = newHistogram();
  for (const e of encoded) total.add(hdr.decodeFromCompressedBase64(e, 32));
  return total;
}

export function summarize(h: Histogram): LatencySummary {
  const ms = (us: number): number => us / 1000;
  return {
    count: h.totalCount,
    p50Ms: ms(h.getValueAtPercentile(50)),
    p99Ms: ms(h.getValueAtPercentile(99)),
    p999Ms: ms(h.getValueAtPercentile(99.9)),
    maxMs: ms(h.maxValue),
    meanMs: ms(h.mean),
  };
}
