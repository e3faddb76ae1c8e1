/**
 * Token buckets keyed by a string (a user id, an address).
 *
 * Each key gets `ratePerSec` tokens per second and holds at most `burst` (default: one second's
 * worth). A request takes one token; with none left it is refused and told how long until the next
 * token. Memory is bounded: at most `maxKeys` buckets are kept, the least recently used one is
 * forgotten first (forgetting a bucket only ever refills it, so the bound can make the limiter more
 * lenient toward an attacker spraying keys, never stricter toward anyone).
 */

export interface RateLimiterOptions {
  ratePerSec: number;
  burst?: number;
  maxKeys?: number;
  now?: () => number;
}

/** Outcome of one take(): allowed, or refused with the wait in ms until a token is available. */
export type RateDecision = { readonly allowed: true } | { readonly allowed: false; readonly retryAfterMs: number };

interface Bucket {
  tokens: number;
  at: number;
}

const ALLOWED: RateDecision = { allowed: true };
const DEFAULT_MAX_KEYS = 100_000;

export class RateLimiter {
  readonly #rate: number;
  readonly #burst: number;
  readonly #maxKeys: number;
  readonly #now: () => number;
  readonly #buckets = new Map<string, Bucket>();

  constructor(options: RateLimiterOptions) {
    if (!(options.ratePerSec > 0)) throw new RangeError(`ratePerSec must be > 0 (got ${options.ratePerSec}); leave the limiter out to disable it`);
    this.#rate = options.ratePerSec / 1000;
    this.#burst = Math.max(1, options.burst ?? options.ratePerSec);
    this.#maxKeys = options.maxKeys ?? DEFAULT_MAX_KEYS;
    this.#now = options.now ?? Date.now;
  }

  /** Takes one token for `key`. */
  take(key: string): RateDecision {
    const now = this.#now();
    let bucket = this.#buckets.get(key);
    if (bucket === undefined) {
      if (this.#buckets.size >= this.#maxKeys) {
        const oldest = this.#buckets.keys().next();
        if (!oldest.done) this.#buckets.delete(oldest.value);
      }
      bucket = { tokens: this.#burst, at: now };
    } else {
      // Re-insert so Map order stays least-recently-used first.
      this.#buckets.delete(key);
      bucket.tokens = Math.min(this.#burst, bucket.tokens + (now - bucket.at) * this.#rate);
      bucket.at = now;
    }
    this.#buckets.set(key, bucket);
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return ALLOWED;
    }
    return { allowed: false, retryAfterMs: Math.ceil((1 - bucket.tokens) / this.#rate) };
  }

  get size(): number {
    return this.#buckets.size;
  }
}
