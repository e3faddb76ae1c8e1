/**
 * The connections this node holds, indexed by user key, and the push subscription each user needs.
 *
 * A socket node subscribes to a user's push subjects while it holds at least one connection of that
 * user: the first connection subscribes, the last one leaving unsubscribes (ref-counted by the
 * length of the user's connection list). One user rarely has more than a few connections, so a small
 * array per user beats a second index by connection id.
 */
import type { Subscription } from '@nats-io/nats-core';
import type { Connection } from './connection.js';

interface UserEntry {
  readonly conns: Connection[];
  readonly sub: Subscription;
}

export class Hub {
  readonly #users = new Map<string, UserEntry>();
  readonly #subscribe: (userKey: string) => Subscription;
  #size = 0;

  /** `subscribe` opens the push subscription of a user key (called on its first connection). */
  constructor(subscribe: (userKey: string) => Subscription) {
    this.#subscribe = subscribe;
  }

  add(conn: Connection): void {
    const key = conn.userKey;
    let entry = this.#users.get(key);
    if (entry === undefined) {
      entry = { conns: [], sub: this.#subscribe(key) };
      this.#users.set(key, entry);
    }
    entry.conns.push(conn);
    this.#size++;
  }

  /** Removes `conn`; returns false when it was not here. */
  remove(conn: Connection): boolean {
    const key = conn.userKey;
    const entry = this.#users.get(key);
    if (entry === undefined) return false;
    const i = entry.conns.indexOf(conn);
    if (i < 0) return false;
    entry.conns.splice(i, 1);
    this.#size--;
    if (entry.conns.length === 0) {
      entry.sub.unsubscribe();
      this.#users.delete(key);
    }
    return true;
  }

  /** The connections of a user key (empty when none). */
  forUser(userKey: string): readonly Connection[] {
    return this.#users.get(userKey)?.conns ?? EMPTY;
  }

  /** Every connection, as a snapshot array (safe to close while iterating). */
  snapshot(): Connection[] {
    const out: Connection[] = [];
    for (const e of this.#users.values()) out.push(...e.conns);
    return out;
  }

  /** Calls `fn` for every connection (do not add or remove inside). */
  forEach(fn: (conn: Connection) => void): void {
    for (const e of this.#users.values()) for (const c of e.conns) fn(c);
  }

  /** Drops every user subscription (the connections are closed by the caller). */
  unsubscribeAll(): void {
    for (const e of this.#users.values()) e.sub.unsubscribe();
  }

  get size(): number {
    return this.#size;
  }

  get users(): number {
    return this.#users.size;
  }
}

const EMPTY: readonly Connection[] = Object.freeze([]);
