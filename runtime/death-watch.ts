/**
 * Death watch: `watch(watcher, target)` makes the target's node tell the watcher
 * `actor.terminated` once, when the target stops, fails for good or passivates; the node that
 * called watch() tracks where the watch is held and tells the watcher `node-down` if that node
 * goes down. The tables are watches.ts; this file moves watches between nodes:
 *
 * - a virtual target not active where it is placed: the watch follows it to its lease holder
 *   (follow.ts), and the tracker is told where it went (`watchMoved`);
 * - a watch registered while the target was activating here, when the activation then finds the
 *   lease held by another node: it moves to that holder the same way (else it would wait here for
 *   an activation that may never come).
 */
import type { Cell, TerminationReason } from './cell.js';
import { MAX_HOPS, NODE_ID_PATTERN, Op, type Envelope } from './envelope.js';
import type { HolderFollower } from './follow.js';
import type { Routing } from './routing.js';
import type { Sender } from './sender.js';
import { CellStatus } from './cell.js';
import type { ActorMessage, ActorRef, TerminatedMessage } from './types.js';
import { Watches } from './watches.js';

export interface DeathWatchDeps {
  readonly id: string;
  readonly routing: Routing;
  readonly sender: Sender;
  readonly follower: HolderFollower;
  isLive(node: string): boolean;
  /** The node's own tell (local fast path first). */
  tell(ref: ActorRef, message: ActorMessage): void;
  /** A watch envelope that is not of the documented shape (counted, logged). */
  bad(problem: string): void;
}

export function terminated(ref: ActorRef, reason: TerminatedMessage['reason']): TerminatedMessage {
  return { type: 'actor.terminated', ref, reason };
}

export class DeathWatch {
  private readonly watches = new Watches();

  constructor(private readonly d: DeathWatchDeps) {}

  /** True while this node tracks watches held on other nodes (the tell path checks it before untracking). */
  get tracking(): boolean {
    return this.watches.tracking;
  }

  watch(watcher: ActorRef, target: ActorRef): void {
    const node = this.d.routing.nodeOfTarget(target);
    if (node === undefined) {
      this.d.tell(watcher, terminated(target, 'stopped'));
      return;
    }
    if (node === this.d.id) {
      this.register(target.kind, target.id, target.node !== undefined, watcher, this.d.id, 0);
      return;
    }
    this.watches.track(node, watcher, target);
    this.send(node, Op.watch, target.kind, target.id, target.node !== undefined, [watcher.kind, watcher.id, watcher.node, this.d.id], 0);
  }

  unwatch(watcher: ActorRef, target: ActorRef): void {
    // Where the watch lives: the node it was tracked at (it may have followed a virtual actor), else the target's node.
    const node = this.watches.untrack(watcher, target) ?? this.d.routing.nodeOfTarget(target);
    if (node === this.d.id) this.unregister(target.kind, target.id, target.node !== undefined, watcher, 0);
    else if (node !== undefined) this.send(node, Op.unwatch, target.kind, target.id, target.node !== undefined, [watcher.kind, watcher.id, watcher.node], 0);
  }

  /** A watch, unwatch or watchMoved envelope from another node. */
  onEnvelope(e: Envelope): void {
    const w = e.body;
    if (!Array.isArray(w) || typeof w[0] !== 'string' || typeof w[1] !== 'string' || !isNodeIdOrNil(w[2]) || !isNodeIdOrNil(w[3])) {
      return this.d.bad('watch body must be [watcherKind, watcherId, watcherNode?, node?]');
    }
    const watcher: ActorRef = w[2] == null ? { kind: w[0], id: w[1] } : { kind: w[0], id: w[1], node: w[2] as string };
    const node = (w[3] as string | null | undefined) ?? undefined;
    if (e.op === Op.unwatch) this.unregister(e.kind, e.id, e.explicit, watcher, e.hops);
    else if (e.op === Op.watch) this.register(e.kind, e.id, e.explicit, watcher, node, e.hops);
    else if (node !== undefined && !e.explicit) this.onMoved(watcher, { kind: e.kind, id: e.id }, node);
  }

  /** A watched target's node told our watcher itself: the node-down fallback is no longer needed. */
  untrackTerminated(kind: string, id: string, explicit: boolean, msg: ActorMessage): void {
    const ref = (msg as Partial<TerminatedMessage>).ref;
    if (ref && typeof ref.kind === 'string' && typeof ref.id === 'string') {
      const watcher: ActorRef = explicit ? { kind, id, node: this.d.id } : { kind, id };
      const target: ActorRef = typeof ref.node === 'string' ? { kind: ref.kind, id: ref.id, node: ref.node } : { kind: ref.kind, id: ref.id };
      this.watches.untrack(watcher, target);
    }
  }

  /** A local actor ended: its watchers are told once. */
  notify(cell: Cell, reason: TerminationReason): void {
    for (const w of this.watches.take(cell.spec.kind, cell.id)) this.d.tell(w.watcher, terminated(cell.ref, reason));
  }

  /** Activation here found virtual `kind/id` active at `holder`: the watches registered meanwhile go there. */
  movedTo(kind: string, id: string, holder: string): void {
    for (const w of this.watches.take(kind, id)) this.relocate(kind, id, w.watcher, w.tracker, holder, 0);
  }

  /** `node` went down: watches that depended on it end with `node-down`. */
  nodeDown(node: string): void {
    for (const pair of this.watches.takeNode(node)) this.d.tell(pair.watcher, terminated(pair.target, 'node-down'));
  }

  /**
   * A watch of local `kind/id`. `tracker` is the node that called watch(): it tells the watcher
   * `node-down` if the node holding the watch goes down, so it hears where the watch moves.
   */
  private register(kind: string, id: string, explicit: boolean, watcher: ActorRef, tracker: string | undefined, hops: number): void {
    const r = this.d.routing;
    const target: ActorRef = explicit ? { kind, id, node: this.d.id } : { kind, id };
    if (!r.followsHere(kind, id, explicit)) {
      const cell = r.cell(kind, id);
      if (cell !== undefined && cell.status !== CellStatus.stopped) return this.watches.add(kind, id, watcher, tracker);
      this.d.tell(watcher, terminated(target, 'stopped')); // an explicit actor not running, or a kind not hosted here
      return;
    }
    if (hops >= MAX_HOPS) return this.watches.add(kind, id, watcher, tracker);
    // A virtual actor not active here: the watch goes where it is active, else it waits here for
    // its next activation (fires on its next stop, failure or passivation).
    this.d.follower.follow(kind, id, (holder) => {
      if (holder === undefined || r.cell(kind, id) !== undefined) return this.watches.add(kind, id, watcher, tracker);
      this.relocate(kind, id, watcher, tracker, holder, hops);
    });
  }

  /** Sends the watch to `holder` and tells its tracker where it went. */
  private relocate(kind: string, id: string, watcher: ActorRef, tracker: string | undefined, holder: string, hops: number): void {
    this.send(holder, Op.watch, kind, id, false, [watcher.kind, watcher.id, watcher.node, tracker], hops + 1);
    if (tracker === this.d.id) {
      const target: ActorRef = { kind, id };
      this.watches.untrack(watcher, target);
      this.watches.track(holder, watcher, target);
    } else if (tracker !== undefined) {
      this.send(tracker, Op.watchMoved, kind, id, false, [watcher.kind, watcher.id, watcher.node, holder], 0);
    }
  }

  /** Removes a watch of local `kind/id`; for a virtual actor not active here, also where it is active. */
  private unregister(kind: string, id: string, explicit: boolean, watcher: ActorRef, hops: number): void {
    this.watches.remove(kind, id, watcher);
    if (hops >= MAX_HOPS || !this.d.routing.followsHere(kind, id, explicit)) return;
    this.d.follower.follow(kind, id, (holder) => {
      if (holder !== undefined) this.send(holder, Op.unwatch, kind, id, false, [watcher.kind, watcher.id, watcher.node], hops + 1);
    });
  }

  /** The watch of `watcher` on virtual `target` followed it to `at`: the node-down fallback now depends on `at`. */
  private onMoved(watcher: ActorRef, target: ActorRef, at: string): void {
    if (this.watches.untrack(watcher, target) === undefined) return; // unwatched (or told) meanwhile
    if (this.d.isLive(at)) this.watches.track(at, watcher, target);
    else this.d.tell(watcher, terminated(target, 'node-down'));
  }

  private send(node: string, op: typeof Op.watch | typeof Op.unwatch | typeof Op.watchMoved, kind: string, id: string, explicit: boolean, body: unknown[], hops: number): void {
    this.d.sender.envelope(node, { op, kind, id, explicit, body, replyNode: undefined, corr: undefined, hops });
  }
}

function isNodeIdOrNil(v: unknown): boolean {
  return v == null || (typeof v === 'string' && NODE_ID_PATTERN.test(v));
}
