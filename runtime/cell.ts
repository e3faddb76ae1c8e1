/**
 * An actor cell: one running actor on this node. It holds the XState actor, the bounded mailbox and
 * the supervision state. Lifecycle decisions that need the cluster (leases, snapshots, watchers,
 * forwarding) belong to the node; the cell calls back through {@link CellHost}.
 *
 * Delivery is a direct path: an idle, running actor gets the message at once (`actor.send`), with
 * no queueing and no timer. Messages wait in the mailbox only while the actor activates, restarts
 * or stops, or while it is busy (a message sent to it from inside its own handler).
 */
import { createActor, type Actor, type AnyActorRef, type AnyStateMachine, type Snapshot } from 'xstate';
import type { Logger } from 'pino';
import { CellLifecycle, CellStatus, statusName, type LifecycleOwner, type TerminationReason } from './cell-lifecycle.js';
import type { Clock, TimerHandle } from './clock.js';
import { WireCodes } from './errors.js';
import type { KindSpec } from './define.js';
import { actorKey } from './leases.js';
import { Mailbox } from './mailbox.js';
import { askExpired, handleAsk, markForReply, ReplyTo, replyToOf, type ReplySink } from './reply.js';
import type { ActorInput, ActorMessage, ActorNode, ActorRef } from './types.js';

export { CellStatus, type TerminationReason } from './cell-lifecycle.js';

/** What a cell needs from its node. */
export interface CellHost {
  readonly id: string;
  readonly publicNode: ActorNode;
  readonly logger: Logger;
  readonly clock: Clock;
  /**
   * The parent of every actor this node starts, so that they share one XState actor system. A root
   * XState actor builds a system of its own (scheduler, registry, inspection: some 25 closures and
   * their contexts, about 2 KB); a node holding 15k sessions would build 15k of them (TARGETS P4). The
   * parent receives nothing it acts on: done and error events relayed to it are ignored, and each
   * cell observes its own actor.
   */
  readonly actorParent: AnyActorRef;
  /** A queued ask passed its deadline and was answered `timeout` instead of run (counted). */
  onExpired(): void;
  /** A message the mailbox refused or dropped (fails its ask with mailbox_full, counts the drop). */
  onOverflow(cell: Cell, message: ActorMessage): void;
  /** A processed message changed a persisted actor's snapshot: schedule a write. */
  onProcessed(cell: Cell): void;
  /** The actor failed for good (restart budget spent) or reached a final state. */
  onGiveUp(cell: Cell, reason: TerminationReason): void;
  /** The snapshot to restart a persisted actor from (undefined: initial state). */
  restartSnapshot(cell: Cell): Promise<Snapshot<unknown> | undefined>;
  countRestart(): void;
}

/** What actorContext(self) returns: built once per cell, the signal created on first read. */
class CellContext {
  constructor(
    private readonly cell: Cell,
    readonly ref: ActorRef,
    readonly node: ActorNode,
    readonly logger: Logger,
  ) {}

  get signal(): AbortSignal {
    return this.cell.life.signal;
  }

  get aborted(): boolean {
    return this.cell.life.aborted;
  }
}

const cellOfActor = new WeakMap<object, Cell>();

/**
 * Stops an actor started with a parent (CellHost.actorParent). XState refuses `stop()` on a non-root
 * actor ("A non-root actor cannot be stopped directly"); `_stop()` is what a parent's `stopChild` runs:
 * it stops the actor through its own mailbox and removes it from the shared system's registry. Checked
 * against xstate 5.33 (package.json pins the major); test/runtime/shared-system.test.ts fails if it
 * changes.
 */
function stopChildActor(actor: Actor<AnyStateMachine>): void {
  const internal = actor as unknown as { _stop?: () => void };
  if (typeof internal._stop === 'function') internal._stop();
  else actor.stop();
}

function processOne(cell: Cell, message: ActorMessage): void {
  cell.process(message);
}

/** The cell of an XState actor started by the runtime (for actorContext). */
export function cellOf(actor: object): Cell | undefined {
  return cellOfActor.get(actor);
}

export class Cell implements LifecycleOwner {
  /** Status, lease, activation and stop: moved only through the transition table (cell-lifecycle.ts). */
  readonly life: CellLifecycle;
  actor: Actor<AnyStateMachine> | undefined = undefined;
  /**
   * Hibernated (KindSpec.hibernateAfterMs): the actor's persisted snapshot (packed by the kind's
   * hibernation codec, if it has one), the actor stopped.
   */
  hibernated: unknown = undefined;
  #subscription: { unsubscribe(): void } | undefined;
  mailbox: Mailbox<ActorMessage> | null = null;
  busy = false;
  /** The message being processed (to fail its ask if the machine throws). */
  current: ActorMessage | undefined = undefined;
  /** Set on every message; the passivation sweep clears it and starts the idle clock. */
  touched = true;
  idleSince = 0;
  private restartTimes: number[] | null = null;
  private restartTimer: TimerHandle | undefined;
  private log: Logger | undefined;
  private ctx: CellContext | undefined;

  constructor(
    readonly host: CellHost,
    readonly spec: KindSpec,
    readonly id: string,
    readonly ref: ActorRef,
    readonly args: unknown,
  ) {
    this.life = new CellLifecycle(this);
  }

  // LifecycleOwner
  get label(): string {
    return `actor ${this.spec.kind}/${this.id}`;
  }

  illegalMove(from: CellStatus, to: CellStatus): void {
    this.logger.error({ from: statusName(from), to: statusName(to) }, 'runtime bug: impossible actor lifecycle move refused');
  }

  get status(): CellStatus {
    return this.life.status;
  }

  private keyText: string | undefined;

  /** KV key of leases and snapshots (computed on first use: most explicit actors never need it). */
  get key(): string {
    return (this.keyText ??= actorKey(this.spec.kind, this.id));
  }

  get logger(): Logger {
    return (this.log ??= this.host.logger.child({ kind: this.spec.kind, actor: this.id }));
  }

  /** {ref, node, logger, signal} for actions (actorContext). */
  get context(): CellContext {
    return (this.ctx ??= new CellContext(this, this.ref, this.host.publicNode, this.logger));
  }

  get queued(): number {
    return this.mailbox === null ? 0 : this.mailbox.size;
  }

  /**
   * Starts the machine (from `snapshot` when given) and delivers what waited. False (nothing
   * started) when the cell stopped meanwhile, e.g. self-fenced while its lease was being read.
   */
  start(snapshot: Snapshot<unknown> | undefined): boolean {
    if (!this.life.run()) return false;
    this.busy = true; // entry actions may tell this actor: queue those behind start
    this.#startActor(snapshot);
    this.busy = false;
    if (this.status === CellStatus.running) this.drain();
    return true;
  }

  /** The machine's input (ActorInput). */
  #input(): ActorInput {
    return { kind: this.spec.kind, id: this.id, node: this.host.id, args: this.args };
  }

  #startActor(snapshot: Snapshot<unknown> | undefined): Actor<AnyStateMachine> {
    const actor = createActor(this.spec.machine, {
      input: this.#input(),
      parent: this.host.actorParent,
      ...(snapshot ? { snapshot } : {}),
    });
    this.actor = actor;
    cellOfActor.set(actor, this);
    this.#subscription = actor.subscribe({
      error: (err: unknown) => this.onError(actor, err),
      complete: () => this.onComplete(actor),
    });
    actor.start();
    return actor;
  }

  /**
   * Stops the XState actor of an idle cell and keeps its persisted snapshot (hibernateAfterMs); the
   * next message starts it again from there. False when it is not idle and healthy.
   */
  hibernate(): boolean {
    const actor = this.actor;
    if (actor === undefined || this.busy || this.status !== CellStatus.running || this.queued !== 0) return false;
    if (actor.getSnapshot().status !== 'active') return false;
    const persisted = actor.getPersistedSnapshot();
    const codec = this.spec.hibernation;
    this.hibernated = codec === undefined ? persisted : (codec.pack(persisted) ?? persisted);
    this.#subscription?.unsubscribe(); // not a completion: the cell lives on
    this.#subscription = undefined;
    this.actor = undefined;
    stopChildActor(actor);
    return true;
  }

  /** The running actor, started again from its hibernation snapshot if needed. */
  #awake(): Actor<AnyStateMachine> {
    if (this.actor !== undefined) return this.actor;
    const packed = this.hibernated;
    this.hibernated = undefined;
    const codec = this.spec.hibernation;
    if (packed === undefined || codec === undefined) return this.#startActor(packed as Snapshot<unknown> | undefined);
    return this.#startActor(codec.unpack(packed, this.#input()));
  }

  /** Hands `message` to the actor now if it is idle, else queues it (bounded). */
  deliver(message: ActorMessage): void {
    if (this.busy || this.status !== CellStatus.running || (this.mailbox !== null && this.mailbox.size !== 0)) {
      this.enqueue(message);
      if (this.status === CellStatus.running && !this.busy) this.drain();
      return;
    }
    this.process(message);
    if (this.mailbox !== null && this.mailbox.size !== 0) this.drain();
  }

  /**
   * Hands an ask to the actor: at once when it is idle, with the answer address on the delivery
   * stack (nothing allocated, the event untouched); else queued, the address kept by the event.
   */
  deliverAsk(message: ActorMessage, sink: ReplySink, node: string, corr: number, deadline = 0): void {
    if (this.busy || this.status !== CellStatus.running || (this.mailbox !== null && this.mailbox.size !== 0)) {
      markForReply(message, new ReplyTo(sink, node, corr, deadline));
      this.deliver(message);
      return;
    }
    handleAsk(message, sink, node, corr, processOne, this, deadline);
    if (this.mailbox !== null && this.mailbox.size !== 0) this.drain();
  }

  enqueue(message: ActorMessage): void {
    const mb = (this.mailbox ??= new Mailbox<ActorMessage>(this.spec.capacity));
    if (mb.full) {
      if (this.spec.overflow === 'drop-oldest') {
        const oldest = mb.shift();
        mb.push(message);
        if (oldest !== undefined) this.host.onOverflow(this, oldest);
      } else {
        this.host.onOverflow(this, message);
      }
      return;
    }
    mb.push(message);
  }

  drain(): void {
    const mb = this.mailbox;
    if (mb === null) return;
    while (this.status === CellStatus.running && !this.busy && mb.size !== 0) {
      const m = mb.shift()!;
      // An ask whose asker gave up while it waited is answered `timeout`, not run (reply.ts askExpired).
      if (askExpired(m)) this.host.onExpired();
      else this.process(m);
    }
  }

  /** Runs one message through the machine (the caller checked that the actor is idle and running). */
  process(message: ActorMessage): void {
    this.busy = true;
    this.current = message;
    this.touched = true;
    const actor = this.#awake();
    if (this.spec.persist) {
      // XState keeps the snapshot object when a message changes nothing: write only on change.
      const before = actor.getSnapshot();
      actor.send(message);
      this.current = undefined;
      this.busy = false;
      if (this.status === CellStatus.running && actor.getSnapshot() !== before) this.host.onProcessed(this);
      return;
    }
    actor.send(message);
    this.current = undefined;
    this.busy = false;
  }

  /** The XState snapshot to persist, or undefined when the actor is not in a good state. */
  persistedSnapshot(): unknown {
    const a = this.actor;
    if (a === undefined || a.getSnapshot().status === 'error') return undefined;
    return a.getPersistedSnapshot();
  }

  /** Stops the machine (no restart); what is queued stays for the node to re-route or fail. */
  stopActor(): void {
    if (this.restartTimer !== undefined) this.host.clock.clearTimeout(this.restartTimer);
    this.restartTimer = undefined;
    const a = this.actor;
    this.actor = undefined;
    this.hibernated = undefined;
    this.#subscription = undefined;
    if (a !== undefined) stopChildActor(a);
  }

  /** Takes every queued message out, oldest first. */
  takeQueued(): ActorMessage[] {
    return this.mailbox === null ? [] : this.mailbox.takeAll();
  }

  private onError(actor: Actor<AnyStateMachine>, err: unknown): void {
    if (actor !== this.actor) return;
    const failed = this.current;
    this.logger.error({ err, event: failed?.type }, 'actor failed: its machine threw; supervision decides on a restart');
    // The ask whose message broke the actor would otherwise wait for its deadline.
    if (failed !== undefined) replyToOf(failed)?.fail(WireCodes.actorError, `actor ${this.spec.kind}/${this.id} failed while handling ${failed.type}: ${String((err as Error)?.message ?? err)}`, 'actor_failed');
    this.actor = undefined;
    if (this.status !== CellStatus.running) return; // stopping anyway
    const now = this.host.clock.now();
    const times = (this.restartTimes ??= []).filter((t) => now - t < this.spec.withinMs);
    this.restartTimes = times;
    if (times.length >= this.spec.maxRestarts) {
      this.logger.error({ restarts: times.length, withinMs: this.spec.withinMs }, 'actor stopped for good: too many restarts');
      this.host.onGiveUp(this, 'failed');
      return;
    }
    times.push(now);
    const delay = Math.min(this.spec.maxBackoffMs, this.spec.backoffMs * 2 ** (times.length - 1));
    this.life.restart();
    this.host.countRestart();
    this.restartTimer = this.host.clock.setTimeout(() => {
      this.restartTimer = undefined;
      this.host.restartSnapshot(this).then(
        (snap) => {
          if (this.status !== CellStatus.restarting) return;
          this.logger.info({ attempt: times.length }, 'actor restarted');
          this.start(snap);
        },
        (e: unknown) => {
          this.logger.error({ err: e }, 'actor could not be restarted: its snapshot could not be read');
          if (this.status === CellStatus.restarting) this.host.onGiveUp(this, 'failed');
        },
      );
    }, delay);
  }

  private onComplete(actor: Actor<AnyStateMachine>): void {
    // `complete` also fires when we stop the actor ourselves (then this.actor is already cleared).
    if (actor !== this.actor || this.status !== CellStatus.running) return;
    if (actor.getSnapshot().status === 'done') {
      this.actor = undefined;
      this.host.onGiveUp(this, 'stopped');
    }
  }
}
