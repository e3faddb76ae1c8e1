import { describe, expect, it } from 'vitest';
import { bucketsSince, histogramBuckets, quantileBound, shareAbove } from '../../bench/load/node-histograms.js';

const scrape = (n: [number, number, number, number]): string =>
  [
    '# HELP syncmesh_store_commit_seconds Commit latency',
    '# TYPE syncmesh_store_commit_seconds histogram',
    `syncmesh_store_commit_seconds_bucket{le="0.005",node="s1"} ${n[0]}`,
    `syncmesh_store_commit_seconds_bucket{le="0.025",node="s1"} ${n[1]}`,
    `syncmesh_store_commit_seconds_bucket{le="0.1",node="s1"} ${n[2]}`,
    `syncmesh_store_commit_seconds_bucket{le="+Inf",node="s1"} ${n[3]}`,
    `syncmesh_store_commit_seconds_sum{node="s1"} 1.5`,
    `syncmesh_store_commit_seconds_count{node="s1"} ${n[3]}`,
    'syncmesh_store_pull_seconds_bucket{le="0.005"} 99',
  ].join('\n');

describe('bench - a node histogram read twice', () => {
  it('histograms - buckets by bound, what a load added, the share over a bound and a bucket quantile', () => {
    const before = histogramBuckets(scrape([10, 10, 10, 10]), 'syncmesh_store_commit_seconds');
    expect(before.get(0.025)).toBe(10);
    expect(before.get(Number.POSITIVE_INFINITY)).toBe(10);
    const load = bucketsSince(before, histogramBuckets(scrape([90, 105, 109, 110]), 'syncmesh_store_commit_seconds'));
    expect(shareAbove(load, 25)).toEqual({ count: 100, above: 0.05 });
    expect(quantileBound(load, 0.5)).toBe(5);
    expect(quantileBound(load, 0.99)).toBe(100);
    expect(quantileBound(load, 1)).toBe(Number.POSITIVE_INFINITY);
    expect(quantileBound(load, 0.95)).toBe(25);
    expect(() => shareAbove(load, 10)).toThrow(/no bucket at 10 ms/);
    expect(quantileBound(new Map(), 0.5)).toBeUndefined();
  });
});
