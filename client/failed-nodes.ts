/**
 * Socket nodes this client recently failed to reach, sent as `exclude` on POST /v1/connect
 * (docs/protocol.md section 2, extension). After a kill -9 the distributor keeps handing out the dead
 * node until membership declares it down (a few seconds); without this, every retry in that window
 * lands on the dead node again and the backoff grows. A node is forgotten after `ttlMs`: by then
 * membership knows, or the node is back (a restarted node keeps its id).
 */

/** How long a failed node is avoided (default). */
export const FAILED_NODE_TTL_MS = 10_000;
/** The distributor accepts at most this many ids in `exclude`. */
export const MAX_EXCLUDE = 8;

export class FailedNodes {
  readonly #ttlMs: number;
  /** node id -> when it is forgotten (ms since the epoch). Map order = insertion order. */
  readonly #until = new Map<string, number>();

  constructor(ttlMs: number = FAILED_NODE_TTL_MS) {
    this.#ttlMs = Math.max(0, ttlMs);
  }

  /** Remembers `node` as failed from `now` on (a second failure extends the time). */
  add(node: string, now: number = Date.now()): void {
    if (this.#ttlMs === 0 || node.length === 0) return;
    this.#until.delete(node);
    this.#until.set(node, now + this.#ttlMs);
  }

  /** The nodes still to avoid at `now`, newest last, at most MAX_EXCLUDE (the newest ones). */
  list(now: number = Date.now()): string[] {
    for (const [node, until] of this.#until) if (until <= now) this.#until.delete(node);
    return [...this.#until.keys()].slice(-MAX_EXCLUDE);
  }
}
