/**
 * Work handed in by I/O callbacks, done in time slices so the event loop keeps turning.
 *
 * Node reads up to 32 x 64 KB from one socket in one turn of its loop, and nats.js hands every
 * message of those reads to the subscription callbacks before the loop turns again. A node that had
 * fallen behind (the burst of store activations at the start of a load) had 2 MB of messages waiting
 * in its socket: seconds of work without a turn of the loop, so no heartbeat went out, its stall
 * watchdog fenced it, and every actor it held stopped (docs/performance.md, P5 "Session 13").
 *
 * An item pushed while this turn of the loop has spent less than `sliceMs` on items, with none
 * waiting, is handled at once (`inline`; no latency added when the node keeps up). Past that, items
 * wait in arrival order and are handled from `setImmediate`, `sliceMs` per turn, so timers
 * (heartbeats, the watchdog, deadlines) and I/O run between slices. With `inline: false` every item
 * waits for the next turn (a close handler that must not do the work itself).
 *
 * Items that settle promises (`continuations: true`: JetStream answers, whose continuations are the
 * commits themselves) do their work after the handler returns, in the microtask queue. The slice
 * then lets each item's continuations run (one `await`) before it reads the clock, and at most
 * `inlineMax` items a turn go at once, since the continuations of items handled inside a socket read
 * run only after the whole read.
 */
export interface TimeSlicesOptions {
  /** At most this much of one turn of the loop goes to items (default 10 ms; one item may overrun it). */
  readonly sliceMs?: number;
  /** Handle an item at once when this turn's slice allows and none waits (default true). */
  readonly inline?: boolean;
  /** An item's handler threw: the others still go. */
  readonly onError?: (err: unknown) => void;
  /** Items settle promises: their continuations count in the slice (default false). */
  readonly continuations?: boolean;
  /** At most this many items a turn at once (default: no limit but the slice). */
  readonly inlineMax?: number;
}

export class TimeSlices<T> {
  #queue: T[] = [];
  #head = 0;
  /** A slice is scheduled with setImmediate. */
  #scheduled = false;
  /** Until when items may be handled at once in this turn (performance.now()). */
  #inlineUntil = 0;
  /** Items handled at once in this turn. */
  #inlineCount = 0;
  readonly #sliceMs: number;
  readonly #inline: boolean;
  readonly #onError: (err: unknown) => void;
  readonly #continuations: boolean;
  readonly #inlineMax: number;

  constructor(
    private readonly handle: (item: T) => void,
    options: TimeSlicesOptions = {},
  ) {
    this.#sliceMs = options.sliceMs ?? 10;
    this.#inline = options.inline ?? true;
    this.#onError = options.onError ?? (() => undefined);
    this.#continuations = options.continuations ?? false;
    this.#inlineMax = options.inlineMax ?? Number.POSITIVE_INFINITY;
  }

  /** Items waiting. */
  get pending(): number {
    return this.#queue.length - this.#head;
  }

  push(item: T): void {
    if (this.#inline && this.#head === this.#queue.length) {
      const now = performance.now();
      if (!this.#scheduled) {
        // The first item of this turn: its slice starts now, and the turn's end is marked.
        this.#scheduled = true;
        this.#inlineUntil = now + this.#sliceMs;
        this.#inlineCount = 0;
        setImmediate(this.#run);
      }
      if (now < this.#inlineUntil && this.#inlineCount < this.#inlineMax) {
        this.#inlineCount++;
        return this.#one(item);
      }
    }
    this.#queue.push(item);
    if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(this.#run);
    }
  }

  /** Handles everything waiting now (a node that stops does not leave work behind). */
  flush(): void {
    while (this.#head < this.#queue.length) this.#one(this.#take());
    this.#reset();
  }

  readonly #run = (): void => {
    this.#inlineUntil = 0; // items of the next turn start a slice of their own
    if (this.#continuations) {
      void this.#sliceWithContinuations();
      return;
    }
    const until = performance.now() + this.#sliceMs;
    while (this.#head < this.#queue.length) {
      this.#one(this.#take());
      if (performance.now() >= until) break;
    }
    this.#next();
  };

  async #sliceWithContinuations(): Promise<void> {
    const until = performance.now() + this.#sliceMs;
    while (this.#head < this.#queue.length) {
      this.#one(this.#take());
      await undefined; // what the item settled runs first, and counts in the slice
      if (performance.now() >= until) break;
    }
    this.#next();
  }

  /** After a slice: the next one, or idle until the next push. */
  #next(): void {
    if (this.#head < this.#queue.length) {
      setImmediate(this.#run);
    } else {
      this.#reset();
      this.#scheduled = false;
    }
  }

  #take(): T {
    const item = this.#queue[this.#head]!;
    this.#queue[this.#head++] = undefined as T; // let it go before the queue is reset
    return item;
  }

  #one(item: T): void {
    try {
      this.handle(item);
    } catch (err) {
      this.#onError(err);
    }
  }

  #reset(): void {
    this.#queue = [];
    this.#head = 0;
  }
}
