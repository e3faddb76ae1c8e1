/**
 * The options each HTTP thread of a distributor serves (DistributorOptions.threads).
 */
import { randomBytes } from 'node:crypto';
import { DEFAULT_PER_IP_PER_SEC, DEFAULT_PER_USER_PER_SEC, type DistributorOptions } from './app.js';
import { DistributorStartError } from './errors.js';

/** DistributorOptions.threads checked: 1 when absent. */
export function threadCount(threads: number | undefined): number {
  const n = threads ?? 1;
  if (!Number.isInteger(n) || n < 1 || n > 64) throw new DistributorStartError(`threads must be an integer from 1 to 64, got ${String(threads)}`);
  return n;
}

/**
 * What every thread serves: the rate limits split over the threads (each thread keeps its own
 * buckets), and one dev-token key for all (a token from one thread is checked by another).
 */
export function perThreadOptions(options: DistributorOptions, count: number): DistributorOptions {
  if (count === 1) return options;
  const split = (perSec: number | undefined, fallback: number): number => {
    const rate = perSec ?? fallback;
    return rate > 0 ? Math.max(1, Math.ceil(rate / count)) : 0;
  };
  return {
    ...options,
    rateLimit: { perUserPerSec: split(options.rateLimit?.perUserPerSec, DEFAULT_PER_USER_PER_SEC), perIpPerSec: split(options.rateLimit?.perIpPerSec, DEFAULT_PER_IP_PER_SEC) },
    ...(options.devMode && options.devTokenSecret === undefined && { devTokenSecret: randomBytes(32).toString('base64url') }),
  };
}
