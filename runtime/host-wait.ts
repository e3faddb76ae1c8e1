/**
 * The waiting room for messages to virtual actors of a kind that no live member hosts right now.
 *
 * Why: right after start-up, or while the only node hosting a kind restarts (it drains, leaves and
 * comes back), there are a few hundred milliseconds with no placement for the kind. Failing every
 * message at once in that window turns a routine restart into errors for clients. Instead the
 * sender holds the message here, per kind and in arrival order, and routes it when a member hosting
 * the kind appears (membership `up`/`updated`), so per-sender order is kept.
 *
 * Bounds: at most `capacity` messages per kind (more are refused: the caller decides how), and each
 * message waits until its own deadline: `since + min(waitMs, ask timeout)`. One interval timer,
 * running only while something waits, expires them (resolution SWEEP_MS).
 *
 * This is only reached when placement found no host: the routing hot path never touches it.
 */
import type { Clock, TimerHandle } from './clock.js';
import type { ActorMessage, ActorRef } from './types.js';

/** One held message. `settle` is set for an ask (its promise), absent for a tell. */
export interface HeldMessage {
  readonly ref: ActorRef;
  readonly message: ActorMessage;
  /** When it started waiting. */
  readonly since: number;
  /** When it stops waiting (cap or ask deadline, whichever is first). */
  readonly until: number;
  readonly ask?: {
    /** The ask's own deadline; what is left of it goes with the ask once a host appears. */
    readonly deadline: number;
    readonly resolve: (value: unknown) => void;
    readonly reject: (error: Error) => void;
  };
}

export interface HostWaitOptions {
  /** Longest wait for a host, ms. */
  readonly waitMs: number;
  /** Messages held per kind, at most. */
  readonly capacity: number;
  readonly clock: Clock;
  /** A held message reached `until` with no host. */
  readonly onExpired: (held: HeldMessage) => void;
}

const SWEEP_MS = 25;

export class HostWait {
  private readonly queues = new Map<string, HeldMessage[]>();
  private timer: TimerHandle | undefined;
  private count = 0;
  /** Totals since start, for metrics. */
  heldTotal = 0;
  refusedTotal = 0;
  expiredTotal = 0;

  constructor(private readonly options: HostWaitOptions) {}

  get enabled(): boolean {
    return this.options.waitMs > 0;
  }

  get waitMs(): number {
    return this.options.waitMs;
  }

  get capacity(): number {
    return this.options.capacity;
  }

  /** Messages waiting now, all kinds. */
  get size(): number {
    return this.count;
  }

  /** Kinds with messages waiting. */
  kinds(): IterableIterator<string> {
    return this.queues.keys();
  }

  /**
   * Holds a message for `ref.kind`. Returns 'new-kind' when it is the first one waiting for that
   * kind (worth a log line), 'held' otherwise, and 'full' (not held) when the kind's queue is full.
   */
  hold(held: HeldMessage): 'held' | 'new-kind' | 'full' {
    let q = this.queues.get(held.ref.kind);
    const fresh = q === undefined;
    if (q === undefined) this.queues.set(held.ref.kind, (q = []));
    else if (q.length >= this.options.capacity) {
      this.refusedTotal++;
      return 'full';
    }
    q.push(held);
    this.count++;
    this.heldTotal++;
    if (this.timer === undefined) {
      this.timer = this.options.clock.setInterval(() => this.sweep(), SWEEP_MS);
    }
    return fresh ? 'new-kind' : 'held';
  }

  /** Removes and returns the messages waiting for `kind`, oldest first. */
  release(kind: string): HeldMessage[] {
    const q = this.queues.get(kind);
    if (q === undefined) return [];
    this.queues.delete(kind);
    this.count -= q.length;
    this.stopTimerIfIdle();
    return q;
  }

  /** Removes and returns everything (node closing). */
  releaseAll(): HeldMessage[] {
    const all: HeldMessage[] = [];
    for (const kind of [...this.queues.keys()]) all.push(...this.release(kind));
    return all;
  }

  private sweep(): void {
    const now = this.options.clock.now();
    for (const [kind, q] of this.queues) {
      const expired: HeldMessage[] = [];
      const kept: HeldMessage[] = [];
      for (const h of q) (h.until <= now ? expired : kept).push(h);
      if (expired.length === 0) continue;
      if (kept.length === 0) this.queues.delete(kind);
      else this.queues.set(kind, kept);
      this.count -= expired.length;
      this.expiredTotal += expired.length;
      for (const h of expired) this.options.onExpired(h);
    }
    this.stopTimerIfIdle();
  }

  private stopTimerIfIdle(): void {
    if (this.count === 0 && this.timer !== undefined) {
      this.options.clock.clearInterval(this.timer);
      this.timer = undefined;
    }
  }
}
