/**
 * Passivations in flight, bounded.
 *
 * Virtual actors activated together go idle together: after a reconnect storm, thousands of store
 * actors (one per returning user) reach `passivateAfterMs` within the same few seconds, and the sweep
 * (local-actors.ts) used to passivate every one of them at its tick. Each passivation removes its lease,
 * a JetStream delete, so thousands of requests reached nats-server at once and queued ahead of the
 * cluster's other writes (a commit's index write waits behind them). The pacer starts at most `limit`
 * at a time and the next as each one ends. What waits is re-checked when its turn comes: `start`
 * returns undefined for an actor that got a message meanwhile (no longer idle) or stopped.
 */
export class PassivationPacer<T> {
  readonly #limit: number;
  readonly #start: (item: T) => Promise<unknown> | undefined;
  /** Waiting, oldest first (a Set keeps insertion order and refuses duplicates). */
  readonly #waiting = new Set<T>();
  #inFlight = 0;

  constructor(limit: number, start: (item: T) => Promise<unknown> | undefined) {
    if (!Number.isSafeInteger(limit) || limit < 1) throw new RangeError(`the passivation limit must be a positive integer, got ${limit}`);
    this.#limit = limit;
    this.#start = start;
  }

  /** Passivations started and not yet ended. */
  get inFlight(): number {
    return this.#inFlight;
  }

  /** Idle actors waiting for their turn. */
  get waiting(): number {
    return this.#waiting.size;
  }

  /** Queues `item` (once) and starts what the limit allows. */
  offer(item: T): void {
    this.#waiting.add(item);
    this.#pump();
  }

  /** Forgets what waits (the node stops every actor itself, or was fenced). */
  clear(): void {
    this.#waiting.clear();
  }

  #pump(): void {
    while (this.#inFlight < this.#limit && this.#waiting.size > 0) {
      const item = this.#waiting.values().next().value as T;
      this.#waiting.delete(item);
      const running = this.#start(item);
      if (running === undefined) continue;
      this.#inFlight++;
      const done = (): void => {
        this.#inFlight--;
        this.#pump();
      };
      running.then(done, done);
    }
  }
}
