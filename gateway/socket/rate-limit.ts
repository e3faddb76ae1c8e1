/**
 * Per-connection token bucket for client frames. The state is three numbers kept on the connection
 * (no object, no timer per connection): tokens refill continuously at `ratePerSec` up to `burst`.
 */

/** The bucket fields a connection carries. */
export interface TokenBucket {
  tokens: number;
  /** When tokens were last refilled (ms). */
  refilledAt: number;
  /** Frames refused since the bucket was last full: a burst resets it, sustained abuse grows it. */
  rejected: number;
}

export interface RateConfig {
  readonly ratePerSec: number;
  readonly burst: number;
}

/** Verdict for one frame. */
export const Admit = { ok: 0, refused: 1 } as const;
export type Admit = (typeof Admit)[keyof typeof Admit];

/** Takes one token at time `now` (ms). */
export function admit(b: TokenBucket, cfg: RateConfig, now: number): Admit {
  const elapsed = now - b.refilledAt;
  if (elapsed > 0) {
    b.tokens = Math.min(cfg.burst, b.tokens + (elapsed * cfg.ratePerSec) / 1000);
    b.refilledAt = now;
  }
  if (b.tokens >= cfg.burst) b.rejected = 0;
  if (b.tokens >= 1) {
    b.tokens -= 1;
    return Admit.ok;
  }
  b.rejected++;
  return Admit.refused;
}
