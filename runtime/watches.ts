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

/**
 * The watches of one target: one (the usual case: a session is watched by its socket server only), a
 * few in an array, or many in a Map by watcher. No Map and no key string per target until it has
 * several watchers: a socket node holds one watched session per connection (TARGETS P4 counts it).
 */
type Held = TargetWatch | TargetWatch[] | Map<string, TargetWatch>;
/** Watchers of one target kept in an array up to this many; past it, in a Map. */
const LIST_MAX = 8;

function sameRef(a: ActorRef, b: ActorRef): boolean {
  return a.kind === b.kind && a.id === b.id && a.node === b.node;
}

function held(h: Held): TargetWatch[] {
  if (h instanceof Map) return [...h.values()];
  return Array.isArray(h) ? h : [h];
}

export class Watches {
  /** Target side: kind -> id -> its watches (the target's own kind and id strings are the keys). */
  private readonly byTarget = new Map<string, Map<string, Held>>();
  private readonly byNode = new Map<string, Map<string, WatchPair>>();

  /** Target side: `watcher` watches local target `kind/id`; `tracker` called watch() (undefined: unknown). */
  add(kind: string, id: string, watcher: ActorRef, tracker: string | undefined): void {
    let ids = this.byTarget.get(kind);
    if (ids === undefined) this.byTarget.set(kind, (ids = new Map()));
    const w: TargetWatch = { watcher, tracker };
    const h = ids.get(id);
    if (h === undefined) {
      ids.set(id, w);
    } else if (h instanceof Map) {
      h.set(refKey(watcher), w);
    } else {
      const list = Array.isArray(h) ? h : [h];
      const at = list.findIndex((x) => sameRef(x.watcher, watcher));
      if (at >= 0) list[at] = w;
      else list.push(w);
      ids.set(id, list.length > LIST_MAX ? new Map(list.map((x) => [refKey(x.watcher), x])) : list.length === 1 ? list[0]! : list);
    }
  }

  remove(kind: string, id: string, watcher: ActorRef): void {
    const ids = this.byTarget.get(kind);
    const h = ids?.get(id);
    if (ids === undefined || h === undefined) return;
    let rest: Held | undefined;
    if (h instanceof Map) {
      h.delete(refKey(watcher));
      rest = h.size === 0 ? undefined : h;
    } else {
      const list = (Array.isArray(h) ? h : [h]).filter((x) => !sameRef(x.watcher, watcher));
      rest = list.length === 0 ? undefined : list.length === 1 ? list[0]! : list;
    }
    if (rest !== undefined) ids.set(id, rest);
    else this.#forget(ids, kind, id);
  }

  /** Target side: the watches of `kind/id`, forgotten (they are told once, or move). */
  take(kind: string, id: string): TargetWatch[] {
    const ids = this.byTarget.get(kind);
    const h = ids?.get(id);
    if (ids === undefined || h === undefined) return [];
    this.#forget(ids, kind, id);
    return held(h);
  }

  #forget(ids: Map<string, Held>, kind: string, id: string): void {
    ids.delete(id);
    if (ids.size === 0) this.byTarget.delete(kind);
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
