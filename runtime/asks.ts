/**
 * Asks in flight: a map from correlation id to the waiting promise, plus deadlines.
 *
 * Deadlines are not one setTimeout per ask (that is two timer-list operations per ask on the hot
 * path). Instead, asks with the same timeout go into one FIFO of (corr, deadline): since the clock
 * only moves forward, each FIFO is sorted by deadline, and one interval timer pops expired heads.
 * An ask answered early stays in its FIFO as a bare number until its deadline passes; the map
 * lookup then finds nothing and moves on.
 */
import type { Clock, TimerHandle } from './clock.js';
import { AskTimeoutError, type ActorRuntimeError } from './errors.js';
import type { ActorRef } from './types.js';

export class Pending {
  constructor(
    readonly corr: number,
    /** The node the ask was sent to (for NodeDownError on its down event). */
    readonly node: string,
    readonly target: ActorRef,
    readonly timeoutMs: number,
    readonly resolve: (value: unknown) => void,
    readonly reject: (error: Error) => void,
  ) {}
}

class DeadlineFifo {
  corrs: number[] = [];
  deadlines: number[] = [];
  head = 0;

  push(corr: number, deadline: number): void {
    this.corrs.push(corr);
    this.deadlines.push(deadline);
  }

  /** Drops consumed entries once they are the larger part of the arrays. */
  compact(): void {
    if (this.head > 1024 && this.head * 2 > this.corrs.length) {
      this.corrs = this.corrs.slice(this.head);
      this.deadlines = this.deadlines.slice(this.head);
      this.head = 0;
    }
  }
}

const TICK_MS = 10;

export class PendingAsks {
  private readonly map = new Map<number, Pending>();
  private readonly fifos = new Map<number, DeadlineFifo>();
  private nextCorr = 1;
  private timer: TimerHandle | undefined;
  timeouts = 0;

  constructor(private readonly clock: Clock) {}

  get size(): number {
    return this.map.size;
  }

  /** A fresh correlation id (wraps well below 2^53). */
  corr(): number {
    const c = this.nextCorr;
    this.nextCorr = c >= 0x7fffffff ? 1 : c + 1;
    return c;
  }

  add(p: Pending): void {
    this.map.set(p.corr, p);
    let fifo = this.fifos.get(p.timeoutMs);
    if (fifo === undefined) this.fifos.set(p.timeoutMs, (fifo = new DeadlineFifo()));
    fifo.push(p.corr, this.clock.now() + p.timeoutMs);
    if (this.timer === undefined) this.timer = this.clock.setInterval(() => this.sweep(), TICK_MS);
  }

  /** Removes and returns the pending ask, if it is still waiting. */
  take(corr: number): Pending | undefined {
    const p = this.map.get(corr);
    if (p !== undefined) this.map.delete(corr);
    return p;
  }

  /** Rejects every ask sent to `node` (its down event). */
  failNode(node: string, error: (p: Pending) => ActorRuntimeError): void {
    for (const p of this.map.values()) {
      if (p.node === node) {
        this.map.delete(p.corr);
        p.reject(error(p));
      }
    }
  }

  /** Rejects every waiting ask (node closing). */
  failAll(error: (p: Pending) => ActorRuntimeError): void {
    const all = [...this.map.values()];
    this.map.clear();
    for (const p of all) p.reject(error(p));
    this.stop();
  }

  stop(): void {
    if (this.timer !== undefined) this.clock.clearInterval(this.timer);
    this.timer = undefined;
    this.fifos.clear();
  }

  private sweep(): void {
    const now = this.clock.now();
    let waiting = 0;
    for (const fifo of this.fifos.values()) {
      const { corrs, deadlines } = fifo;
      let h = fifo.head;
      while (h < corrs.length && deadlines[h]! <= now) {
        const p = this.map.get(corrs[h]!);
        h++;
        if (p !== undefined) {
          this.map.delete(p.corr);
          this.timeouts++;
          const where = p.target.node ? ` on node ${p.target.node}` : '';
          p.reject(
            new AskTimeoutError(
              `ask to ${p.target.kind}/${p.target.id}${where} got no answer within ${p.timeoutMs} ms; ` +
                'the actor may not reply to this message type, or be overloaded',
            ),
          );
        }
      }
      fifo.head = h;
      fifo.compact();
      waiting += corrs.length - h;
    }
    if (waiting === 0 && this.map.size === 0) this.stop();
  }
}
