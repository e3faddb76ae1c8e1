/**
 * The connections this node holds, indexed by user key, and the push subscription each push slot
 * needs (protocol/cluster/push.ts).
 *
 * A socket node subscribes to a push slot's subject while it holds at least one connection of that
 * slot: the first connection subscribes, the last one leaving unsubscribes (ref-counted). The
 * distributor places connections by slot, so a node holds about 4,096 / N slots of an N-node
 * cluster (all of them on a lone node) plus the few connections left from before a membership
 * change: NATS interest grows with slots, not with users. One user rarely has more than a few
 * connections, so a small array per user beats a second index by connection id (replaced, not grown in
 * place: small-arrays.ts).
 */
import type { Subscription } from '@nats-io/nats-core';
import { pushSlot } from '../../protocol/cluster/mod.js';
import type { Connection } from './connection.js';
import { appended, kept } from './small-arrays.js';

interface SlotEntry {
  count: number;
  readonly sub: Subscription;
}

export class Hub {
  readonly #users = new Map<string, Connection[]>();
  readonly #slots = new Map<string, SlotEntry>();
  readonly #subscribe: (slot: string) => Subscription;
  #size = 0;

  /** `subscribe` opens the push subscription of a slot (called on its first connection here). */
  constructor(subscribe: (slot: string) => Subscription) {
    this.#subscribe = subscribe;
  }

  add(conn: Connection): void {
    const key = conn.userKey;
    const conns = this.#users.get(key);
    this.#users.set(key, conns === undefined ? [conn] : appended(conns, conn));
    const slot = pushSlot(conn.connectionId);
    const entry = this.#slots.get(slot);
    if (entry === undefined) this.#slots.set(slot, { count: 1, sub: this.#subscribe(slot) });
    else entry.count++;
    this.#size++;
  }

  /** Removes `conn`; returns false when it was not here. */
  remove(conn: Connection): boolean {
    const key = conn.userKey;
    const conns = this.#users.get(key);
    if (conns === undefined) return false;
    if (!conns.includes(conn)) return false;
    const rest = kept(conns, (c) => c !== conn);
    if (rest.length === 0) this.#users.delete(key);
    else this.#users.set(key, rest);
    this.#size--;
    const slot = pushSlot(conn.connectionId);
    const entry = this.#slots.get(slot);
    if (entry !== undefined && --entry.count === 0) {
      entry.sub.unsubscribe();
      this.#slots.delete(slot);
    }
    return true;
  }

  /** The connections of a user key (empty when none). */
  forUser(userKey: string): readonly Connection[] {
    return this.#users.get(userKey) ?? EMPTY;
  }

  /** Every connection, as a snapshot array (safe to close while iterating). */
  snapshot(): Connection[] {
    const out: Connection[] = [];
    for (const conns of this.#users.values()) out.push(...conns);
    return out;
  }

  /** Calls `fn` for every connection (do not add or remove inside). */
  forEach(fn: (conn: Connection) => void): void {
    for (const conns of this.#users.values()) for (const c of conns) fn(c);
  }

  /** Drops every slot subscription (the connections are closed by the caller). */
  unsubscribeAll(): void {
    for (const e of this.#slots.values()) e.sub.unsubscribe();
    this.#slots.clear();
  }

  get size(): number {
    return this.#size;
  }

  get users(): number {
    return this.#users.size;
  }

  /** Push slots subscribed to (one NATS subscription each). */
  get slots(): number {
    return this.#slots.size;
  }
}

const EMPTY: readonly Connection[] = Object.freeze([]);
