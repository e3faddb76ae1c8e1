/**
 * Test kit: a client-side token bucket, so a test can send many frames on one connection while
 * staying under the server's per-connection rate limit (docs/protocol.md 3.2: 100/s, burst 200).
 * Give it a lower rate and burst than the server's: the server's bucket starts full at the upgrade,
 * before the client's, and only ever refills more than this one in the same time.
 */
export class Pacer {
  readonly #ratePerSec: number;
  readonly #burst: number;
  #tokens: number;
  #at = Date.now();

  constructor(ratePerSec: number, burst: number) {
    this.#ratePerSec = ratePerSec;
    this.#burst = burst;
    this.#tokens = burst;
  }

  /** Resolves once one frame may be sent. */
  async take(): Promise<void> {
    for (;;) {
      const now = Date.now();
      this.#tokens = Math.min(this.#burst, this.#tokens + ((now - this.#at) * this.#ratePerSec) / 1000);
      this.#at = now;
      if (this.#tokens >= 1) {
        this.#tokens -= 1;
        return;
      }
      // Rate shaping, not waiting for a condition: the next token is due at a known time.
      await new Promise((resolve) => setTimeout(resolve, Math.ceil(((1 - this.#tokens) * 1000) / this.#ratePerSec)));
    }
  }
}
