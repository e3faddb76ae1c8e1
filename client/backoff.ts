/**
 * Reconnect delays: exponential backoff with full jitter (AWS architecture blog, "Exponential Backoff
 * And Jitter"): attempt n waits a uniformly random time in [0, min(maxMs, minMs * 2^n)]. Full jitter
 * spreads a crowd of clients whose node died over the whole window, so they do not return in waves.
 */
export interface BackoffOptions {
  /** Ceiling of the first attempt's delay (default 250 ms). */
  minMs?: number;
  /** Largest ceiling (default 30 000 ms). */
  maxMs?: number;
  /** `full` (default): random in [0, ceiling]. `none`: exactly the ceiling (useful in tests). */
  jitter?: 'full' | 'none';
  /** Source of randomness in [0, 1) (default Math.random); tests pass their own. */
  random?: () => number;
}

export interface Backoff {
  /** The delay before the next attempt; each call counts one more attempt. */
  next(): number;
  /** Back to the first attempt (after a connection stayed up long enough). */
  reset(): void;
  /** Attempts counted since the last reset. */
  readonly attempts: number;
}

export const BACKOFF_DEFAULTS = { minMs: 250, maxMs: 30_000, jitter: 'full' } as const;

export function createBackoff(options: BackoffOptions = {}): Backoff {
  const minMs = Math.max(1, options.minMs ?? BACKOFF_DEFAULTS.minMs);
  const maxMs = Math.max(minMs, options.maxMs ?? BACKOFF_DEFAULTS.maxMs);
  const jitter = options.jitter ?? BACKOFF_DEFAULTS.jitter;
  const random = options.random ?? Math.random;
  let attempts = 0;
  return {
    next(): number {
      // Capping the exponent keeps 2^n finite however long the outage lasts.
      const ceiling = Math.min(maxMs, minMs * 2 ** Math.min(attempts, 30));
      attempts++;
      return jitter === 'full' ? Math.floor(random() * (ceiling + 1)) : ceiling;
    },
    reset(): void {
      attempts = 0;
    },
    get attempts(): number {
      return attempts;
    },
  };
}
