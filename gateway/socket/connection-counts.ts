/**
 * The live connections of the users a socket node **owns** for the connection quota (quota.ts): one
 * entry per (user key, device key), naming the node and admission of the connection that holds it.
 *
 * Soft state: an entry lives while its node refreshes it (every REFRESH_MS, quota.ts) and the node is
 * a live member. Entries of nodes that are gone are dropped at the next admission of their user; those
 * nobody refreshed for ENTRY_TTL_MS (a lost `leave`, an owner change) are dropped by expire(). Pure:
 * the caller gives the time and the membership, so it is tested without NATS or timers.
 */

import { appended, kept } from './small-arrays.js';

/**
 * [deviceKey, node, admission, last seen (ms)]: `admission` tells a device's connections on one node
 * apart. A user's entries are a small array, not a Map: users have a few devices (at most the quota),
 * and an owner holds an entry per live connection of its users (TARGETS P4 counts its memory).
 */
type Entry = [deviceKey: string, node: string, admission: number, seenAt: number];

/** One counted connection, as a node reports it in a refresh. */
export interface CountedConnection {
  readonly userKey: string;
  readonly deviceKey: string;
  readonly admission: number;
}

export class ConnectionCounts {
  readonly #users = new Map<string, Entry[]>();
  readonly #ttlMs: number;

  constructor(ttlMs: number) {
    this.#ttlMs = ttlMs;
  }

  /** Connections counted here (every user, every node). */
  get size(): number {
    let n = 0;
    for (const entries of this.#users.values()) n += entries.length;
    return n;
  }

  /**
   * Counts (userKey, deviceKey) on `node` unless the user already has `max` other devices live; the
   * same device is always admitted (its newer connection replaces the older). Entries of nodes
   * `isLive` denies, or not seen for the TTL, do not count and are dropped.
   */
  admit(userKey: string, deviceKey: string, node: string, admission: number, max: number, isLive: (node: string) => boolean, now: number): boolean {
    const entries = kept(this.#users.get(userKey) ?? [], (e) => isLive(e[1]) && now - e[3] <= this.#ttlMs);
    const i = entries.findIndex((e) => e[0] === deviceKey);
    if (i < 0 && entries.length >= max) {
      this.#set(userKey, entries);
      return false;
    }
    const entry: Entry = [deviceKey, node, admission, now];
    if (i >= 0) entries[i] = entry;
    this.#set(userKey, i < 0 ? appended(entries, entry) : entries);
    return true;
  }

  /** Uncounts (userKey, deviceKey) if it is still the connection (`node`, `admission`). */
  leave(userKey: string, deviceKey: string, node: string, admission: number): void {
    const entries = this.#users.get(userKey);
    if (entries === undefined) return;
    this.#set(
      userKey,
      kept(entries, (e) => !(e[0] === deviceKey && e[1] === node && e[2] === admission)),
    );
  }

  /**
   * `node` still holds `connections`: their entries are seen now, and added when missing (this node
   * became their owner, or a count was lost). A device counted on another node keeps that entry.
   */
  refresh(node: string, connections: readonly CountedConnection[], now: number): void {
    for (const c of connections) {
      const entries = this.#users.get(c.userKey) ?? [];
      const i = entries.findIndex((e) => e[0] === c.deviceKey);
      if (i < 0) this.#users.set(c.userKey, appended(entries, [c.deviceKey, node, c.admission, now]));
      else if (entries[i]![1] === node) entries[i] = [c.deviceKey, node, c.admission, now];
    }
  }

  /** Drops entries not seen for the TTL, and the users `owned` no longer says are ours. */
  expire(now: number, owned: (userKey: string) => boolean): void {
    for (const [u, entries] of this.#users) {
      if (!owned(u)) this.#users.delete(u);
      else this.#set(u, kept(entries, (e) => now - e[3] <= this.#ttlMs));
    }
  }

  #set(userKey: string, entries: Entry[]): void {
    if (entries.length === 0) this.#users.delete(userKey);
    else this.#users.set(userKey, entries);
  }
}
