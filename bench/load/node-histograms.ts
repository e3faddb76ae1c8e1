/**
 * Where P5's time goes, from the nodes' own Prometheus endpoints: the store actor's commit latency
 * histogram (arrival at the store actor to its answer: waiting behind the user's earlier commits,
 * then the JetStream writes) and each node's event-loop delay over the load. Read once before the
 * load and once after it; the difference of the cumulative buckets is the load's own.
 */
import { BenchWorkerError } from '../errors.js';

/** Cumulative counts of a Prometheus histogram by upper bound (seconds; `+Inf` as Infinity), summed over label sets. */
export type Buckets = ReadonlyMap<number, number>;

/** The `<name>_bucket` lines of a scrape, by their `le`. */
export function histogramBuckets(text: string, name: string): Buckets {
  const out = new Map<number, number>();
  const prefix = `${name}_bucket{`;
  for (const line of text.split('\n')) {
    if (!line.startsWith(prefix)) continue;
    const le = /le="([^"]+)"/.exec(line)?.[1];
    const value = Number(line.slice(line.lastIndexOf(' ') + 1));
    if (le === undefined || Number.isNaN(value)) continue;
    const bound = le === '+Inf' ? Number.POSITIVE_INFINITY : Number(le);
    out.set(bound, (out.get(bound) ?? 0) + value);
  }
  return out;
}

/** What `after` counted that `before` had not. */
export function bucketsSince(before: Buckets, after: Buckets): Buckets {
  const out = new Map<number, number>();
  for (const [le, n] of after) out.set(le, n - (before.get(le) ?? 0));
  return out;
}

/** How many observations, and the share above `ms` (ms must be one of the bounds). */
export function shareAbove(b: Buckets, ms: number): { count: number; above: number } {
  const count = b.get(Number.POSITIVE_INFINITY) ?? 0;
  const within = b.get(ms / 1000);
  if (within === undefined) throw new BenchWorkerError(`the histogram has no bucket at ${ms} ms`);
  return { count, above: count === 0 ? 0 : (count - within) / count };
}

/** The smallest bound (ms) under which a share `q` of the observations fall (a bucket's bound, not an interpolation). */
export function quantileBound(b: Buckets, q: number): number | undefined {
  const count = b.get(Number.POSITIVE_INFINITY) ?? 0;
  if (count === 0) return undefined;
  const bounds = [...b.keys()].sort((x, y) => x - y);
  for (const le of bounds) if ((b.get(le) ?? 0) >= q * count) return le * 1000;
  return undefined;
}
