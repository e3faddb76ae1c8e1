/**
 * The lifecycle of an actor cell as an explicit transition table. {@link CellLifecycle} owns every
 * field that changes with it (status, lease, the activation and stop promises, the abort signal);
 * the cell, the node's actor table and the snapshot store read them and move the cell only through
 * its methods, so an impossible move (a stopped cell started again, say) is refused in one place.
 *
 *   activating --run--> running --restart--> restarting --run--> running
 *        |                 |                      |
 *        |                 +------beginStop-------+----> stopping --end--> stopped    (the signal aborts at beginStop)
 *        +----------------------end (lease held elsewhere, activation failed, fenced)--> stopped
 *   running, restarting, stopping --end (self-fencing: no KV, no final write)--> stopped
 *
 * Losing the lease (loseLease) is not a state: it marks the activation as fenced (nothing to
 * release, no final snapshot write) and aborts the actor's signal at once; a stop follows.
 */
import { LeaseLostError, UnavailableError } from './errors.js';

export const CellStatus = {
  activating: 0,
  running: 1,
  restarting: 2,
  stopping: 3,
  stopped: 4,
} as const;
export type CellStatus = (typeof CellStatus)[keyof typeof CellStatus];

export type TerminationReason = 'stopped' | 'failed' | 'node-down' | 'passivated';

const NAMES = ['activating', 'running', 'restarting', 'stopping', 'stopped'] as const;

/** ALLOWED[from] lists the states a cell may move to from `from`. */
const ALLOWED: readonly (readonly CellStatus[])[] = [
  /* activating */ [CellStatus.running, CellStatus.stopped],
  /* running    */ [CellStatus.restarting, CellStatus.stopping, CellStatus.stopped],
  /* restarting */ [CellStatus.running, CellStatus.stopping, CellStatus.stopped],
  /* stopping   */ [CellStatus.stopped],
  /* stopped    */ [],
];

/** True when the table allows `from -> to`. */
export function canMove(from: CellStatus, to: CellStatus): boolean {
  return ALLOWED[from]!.includes(to);
}

export function statusName(s: CellStatus): string {
  return NAMES[s];
}

/**
 * What a lifecycle belongs to. One per cell, and kept per idle connection on a socket node (P4): so
 * the label is computed only when an error needs it, and the owner is the cell itself, not a closure.
 */
export interface LifecycleOwner {
  /** `actor <kind>/<id>`, for error messages. */
  readonly label: string;
  /** An impossible move: a bug in the runtime, reported (never thrown into a NATS callback). */
  illegalMove(from: CellStatus, to: CellStatus): void;
}

export class CellLifecycle {
  private s: CellStatus;
  private rev = 0;
  private epoch = 0;
  private lost = false;
  private controller: AbortController | undefined;
  /** Why the activation ended; the Error is built only when a signal is (or was) handed out. */
  private endReason: (() => Error) | undefined;
  /** Resolves when activation settled (running, forwarded, or failed). Set once, by the activator. */
  activation: Promise<void> | undefined = undefined;
  /** The one stop of this activation (stop, passivation, failure for good): later stops join it. */
  stopping: Promise<void> | undefined = undefined;

  constructor(
    private readonly owner: LifecycleOwner,
    initial: typeof CellStatus.activating | typeof CellStatus.running = CellStatus.activating,
  ) {
    this.s = initial;
  }

  get status(): CellStatus {
    return this.s;
  }

  /** KV lease revision (0: no lease to release: explicit actor, released, or lost). */
  get leaseRev(): number {
    return this.rev;
  }

  /** Fencing token of the lease (grows on every takeover). */
  get leaseEpoch(): number {
    return this.epoch;
  }

  /** The node learned that another activation holds the lease. */
  get leaseLost(): boolean {
    return this.lost;
  }

  /** True once the signal is (or would be) aborted, without creating it. */
  get aborted(): boolean {
    return this.endReason !== undefined;
  }

  /** Aborted when this activation ends or its lease is lost (created on first use). */
  get signal(): AbortSignal {
    if (this.controller === undefined) {
      this.controller = new AbortController();
      if (this.endReason !== undefined) this.controller.abort(this.endReason());
    }
    return this.controller.signal;
  }

  /**
   * activating: the lease was won at `rev` with fencing token `epoch`. A cell self-fenced while the
   * lease was being won is stopped already: the lease then stays as a fenced node's leases do (it
   * names this node; this node takes it over again, or others once it is down).
   */
  leased(rev: number, epoch: number): void {
    if (this.s === CellStatus.stopped) return;
    if (this.s !== CellStatus.activating) return this.owner.illegalMove(this.s, CellStatus.activating);
    this.rev = rev;
    this.epoch = epoch;
  }

  /** The machine runs (first start or restart). False when the cell has moved on meanwhile (it stopped). */
  run(): boolean {
    return this.move(CellStatus.running);
  }

  /** The machine failed and will be restarted after a backoff. */
  restart(): boolean {
    return this.move(CellStatus.restarting);
  }

  /**
   * A stop began (final snapshot write, lease release follow). The signal aborts now: work the actor
   * queued itself (a promise chain) must not start once its activation is ending.
   */
  beginStop(why = 'stopping'): boolean {
    if (!this.move(CellStatus.stopping)) return false;
    this.abort(this.stopReason(why));
    return true;
  }

  /** The activation is over; its signal aborts. Idempotent. */
  end(why: string): void {
    if (this.s === CellStatus.stopped) return;
    this.move(CellStatus.stopped);
    this.abort(this.stopReason(why));
  }

  /** The lease was released: nothing left to release. */
  released(): void {
    this.rev = 0;
  }

  /**
   * Another activation holds the lease now: nothing to release, no final write, and the actor's
   * signal aborts at once so long operations stop before the stop itself is done.
   */
  loseLease(): void {
    this.lost = true;
    this.rev = 0;
    this.abort(() => new LeaseLostError(`${this.owner.label} lost its activation lease: another node activated it`));
  }

  /** Why the signal aborts when the activation stops (built only if someone holds the signal). */
  private stopReason(why: string): () => Error {
    const lost = this.lost;
    return () => (lost ? new LeaseLostError(`${this.owner.label} lost its activation lease`) : new UnavailableError(`${this.owner.label} stopped (${why})`));
  }

  /**
   * Ends the signal with `reason`. The Error (and its stack trace) is built only when someone holds
   * the signal: most activations never ask for it, and a mass close stops thousands at once.
   */
  private abort(reason: () => Error): void {
    if (this.endReason !== undefined) return;
    this.endReason = reason;
    this.controller?.abort(reason());
  }

  private move(to: CellStatus): boolean {
    if (!canMove(this.s, to)) {
      if (this.s !== CellStatus.stopped) this.owner.illegalMove(this.s, to); // moves after a stop are expected races
      return false;
    }
    this.s = to;
    return true;
  }
}
