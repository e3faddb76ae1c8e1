/**
 * Connection teardown in time slices. uWebSockets.js calls the close handler of every socket that
 * closed in one event-loop turn back to back: when thousands of clients drop at once (a network
 * partition healing into resets, a load balancer restart), doing each one's teardown there (session
 * actor stopped, push interest dropped, quota entry released) kept the loop busy for seconds (15,000
 * closes: a 2.8-s stall), past the runtime's stall watchdog, so the node self-fenced and told every
 * client it still held to resync.
 *
 * The close handler now only detaches the socket; the rest waits here and runs from `setImmediate`
 * in slices of at most `sliceMs`, so timers (heartbeats, the watchdog) and I/O (pushes to the
 * connections still open) run between slices. One close alone is torn down at the next turn.
 */
export class Teardown<T> {
  #queue: T[] = [];
  #head = 0;
  #scheduled = false;

  constructor(
    private readonly finish: (item: T) => void,
    private readonly sliceMs = 5,
    private readonly onError: (err: unknown) => void = () => undefined,
  ) {}

  /** Items waiting. */
  get pending(): number {
    return this.#queue.length - this.#head;
  }

  push(item: T): void {
    this.#queue.push(item);
    if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(this.#run);
    }
  }

  /** Tears down everything waiting now (a node that stops does not leave sessions behind). */
  flush(): void {
    while (this.#head < this.#queue.length) this.#one();
    this.#reset();
  }

  readonly #run = (): void => {
    this.#scheduled = false;
    const until = performance.now() + this.sliceMs;
    while (this.#head < this.#queue.length) {
      this.#one();
      // The clock is read every 16 items: a teardown is tens of microseconds.
      if ((this.#head & 15) === 0 && performance.now() >= until) break;
    }
    if (this.#head < this.#queue.length) {
      this.#scheduled = true;
      setImmediate(this.#run);
    } else {
      this.#reset();
    }
  };

  #one(): void {
    const item = this.#queue[this.#head]!;
    this.#queue[this.#head++] = undefined as T; // let it go before the queue is reset
    try {
      this.finish(item);
    } catch (err) {
      this.onError(err);
    }
  }

  #reset(): void {
    this.#queue = [];
    this.#head = 0;
  }
}
