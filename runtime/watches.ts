/**
 * Death watch bookkeeping, two tables:
 *
 * - at the target's node: who watches each actor (registered even while a virtual actor is not
 *   active). When the actor stops, fails, or passivates, its watchers are told once and forgotten.
 * - at the node that called watch() for a target on another node: which node the watch depends
 *   on. When that node goes down, the watcher is told `node-down` (its own node cannot tell it).
 *   A watch of a virtual actor that followed it to its lease holder (follow.ts) is re-tracked
 *   there (the `watchMoved` envelope).
 */
import type { ActorRef } from './types.js';

function refKey(r: ActorRef): string {
  return r.node === undefined ? `${r.kind}\u0000${r.id}` : `${r.kind}\u0000${r.id}\u0000${r.node}`;
}

/** Key of a target on its own node (node part left out: it is this node). */
export function targetKey(kind: string, id: string): string {
  return `${kind}\u0000${id}`;
}

/** A watch held at the target's node: the watcher, and the node that called watch() (it tracks where the watch is). */
export interface TargetWatch {
  readonly watcher: ActorRef;
  readonly tracker: string | undefined;
}

export interface WatchPair {
  readonly watcher: ActorRef;
  readonly target: ActorRef;
}

export class Watches {
  private readonly byTarget = new Map<string, Map<string, TargetWatch>>();
  private readonly byNode = new Map<string, Map<string, WatchPair>>();

  /** Target side: `watcher` watches local target `kind/id`; `tracker` called watch() (undefined: unknown). */
  add(kind: string, id: string, watcher: ActorRef, tracker: string | undefined): void {
    const k = targetKey(kind, id);
    let m = this.byTarget.get(k);
    if (m === undefined) this.byTarget.set(k, (m = new Map()));
    m.set(refKey(watcher), { watcher, tracker });
  }

  remove(kind: string, id: string, watcher: ActorRef): void {
    const k = targetKey(kind, id);
    const m = this.byTarget.get(k);
    if (m === undefined) return;
    m.delete(refKey(watcher));
    if (m.size === 0) this.byTarget.delete(k);
  }

  /** Target side: the watches of `kind/id`, forgotten (they are told once, or move). */
  take(kind: string, id: string): TargetWatch[] {
    const k = targetKey(kind, id);
    const m = this.byTarget.get(k);
    if (m === undefined) return [];
    this.byTarget.delete(k);
    return [...m.values()];
  }

  /** Caller side: the watch depends on `node` staying up. */
  track(node: string, watcher: ActorRef, target: ActorRef): void {
    let m = this.byNode.get(node);
    if (m === undefined) this.byNode.set(node, (m = new Map()));
    m.set(`${refKey(watcher)}\u0001${refKey(target)}`, { watcher, target });
  }

  /** Caller side: forgets the pair; returns the node it depended on (undefined: not tracked). */
  untrack(watcher: ActorRef, target: ActorRef): string | undefined {
    const pk = `${refKey(watcher)}\u0001${refKey(target)}`;
    let found: string | undefined;
    for (const [node, m] of this.byNode) {
      if (!m.delete(pk)) continue;
      found = node;
      if (m.size === 0) this.byNode.delete(node);
    }
    return found;
  }

  /** Caller side: every watch that depended on `node`, forgotten. */
  takeNode(node: string): WatchPair[] {
    const m = this.byNode.get(node);
    if (m === undefined) return [];
    this.byNode.delete(node);
    return [...m.values()];
  }

  get tracking(): boolean {
    return this.byNode.size !== 0;
  }
}
