/**
 * The live connections of the users a socket node **owns** for the connection quota (quota.ts): one
 * entry per (user key, device key), naming the node and admission of the connection that holds it.
 *
 * Soft state: an entry lives while its node refreshes it (every REFRESH_MS, quota.ts) and the node is
 * a live member. Entries of nodes that are gone are dropped at the next admission of their user; those
 * nobody refreshed for ENTRY_TTL_MS (a lost `leave`, an owner change) are dropped by expire(). Pure:
 * the caller gives the time and the membership, so it is tested without NATS or timers.
 */

/** [node, admission, last seen (ms)]: `admission` tells a device's connections on one node apart. */
type Entry = [node: string, admission: number, seenAt: number];

/** One counted connection, as a node reports it in a refresh. */
export interface CountedConnection {
  readonly userKey: string;
  readonly deviceKey: string;
  readonly admission: number;
}

export class ConnectionCounts {
  readonly #users = new Map<string, Map<string, Entry>>();
  readonly #ttlMs: number;

  constructor(ttlMs: number) {
    this.#ttlMs = ttlMs;
  }

  /** Connections counted here (every user, every node). */
  get size(): number {
    let n = 0;
    for (const devices of this.#users.values()) n += devices.size;
    return n;
  }

  /**
   * Counts (userKey, deviceKey) on `node` unless the user already has `max` other devices live; the
   * same device is always admitted (its newer connection replaces the older). Entries of nodes
   * `isLive` denies, or not seen for the TTL, do not count and are dropped.
   */
  admit(userKey: string, deviceKey: string, node: string, admission: number, max: number, isLive: (node: string) => boolean, now: number): boolean {
    let devices = this.#users.get(userKey);
    if (devices === undefined) this.#users.set(userKey, (devices = new Map()));
    for (const [d, [n, , seenAt]] of devices) if (!isLive(n) || now - seenAt > this.#ttlMs) devices.delete(d);
    if (!devices.has(deviceKey) && devices.size >= max) return false;
    devices.set(deviceKey, [node, admission, now]);
    return true;
  }

  /** Uncounts (userKey, deviceKey) if it is still the connection (`node`, `admission`). */
  leave(userKey: string, deviceKey: string, node: string, admission: number): void {
    const devices = this.#users.get(userKey);
    const e = devices?.get(deviceKey);
    if (devices === undefined || e === undefined || e[0] !== node || e[1] !== admission) return;
    devices.delete(deviceKey);
    if (devices.size === 0) this.#users.delete(userKey);
  }

  /**
   * `node` still holds `connections`: their entries are seen now, and added when missing (this node
   * became their owner, or a count was lost). A device counted on another node keeps that entry.
   */
  refresh(node: string, connections: readonly CountedConnection[], now: number): void {
    for (const c of connections) {
      let devices = this.#users.get(c.userKey);
      if (devices === undefined) this.#users.set(c.userKey, (devices = new Map()));
      const e = devices.get(c.deviceKey);
      if (e === undefined || e[0] === node) devices.set(c.deviceKey, [node, c.admission, now]);
    }
  }

  /** Drops entries not seen for the TTL, and the users `owned` no longer says are ours. */
  expire(now: number, owned: (userKey: string) => boolean): void {
    for (const [u, devices] of this.#users) {
      if (!owned(u)) {
        this.#users.delete(u);
        continue;
      }
      for (const [d, e] of devices) if (now - e[2] > this.#ttlMs) devices.delete(d);
      if (devices.size === 0) this.#users.delete(u);
    }
  }
}
