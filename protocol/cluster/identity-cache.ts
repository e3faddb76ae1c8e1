/**
 * Connection identifiers of the users a process serves again and again, remembered.
 *
 * The storage and push path computes, on every commit, the push actor's id (`userKey`) and the
 * connection id of each device of the user it pushes to: two SHA-256 per device. Under P5's load that was
 * a few percent of the storage node's CPU for values that never change. A cache keeps them per user,
 * bounded: at most `maxUsers` users (least recently used out first), and at most `maxDevicesPerUser`
 * device ids per user (a user's list is dropped and rebuilt past it, so ids a caller makes up cannot
 * grow it). Not for the socket nodes or the distributor: they compute an id once per connection.
 */
import { LRUCache } from 'lru-cache';
import { deviceKey, userKey } from './identity.js';

interface UserIds {
  readonly userKey: string;
  /** deviceId -> connection id. */
  devices: Map<string, string>;
}

export class IdentityCache {
  readonly #users: LRUCache<string, UserIds>;
  readonly #maxDevices: number;

  constructor(maxUsers = 10_000, maxDevicesPerUser = 64) {
    if (!Number.isSafeInteger(maxUsers) || maxUsers < 1) throw new RangeError(`maxUsers must be a positive integer, got ${maxUsers}`);
    if (!Number.isSafeInteger(maxDevicesPerUser) || maxDevicesPerUser < 1) throw new RangeError(`maxDevicesPerUser must be a positive integer, got ${maxDevicesPerUser}`);
    this.#users = new LRUCache({ max: maxUsers });
    this.#maxDevices = maxDevicesPerUser;
  }

  /** Users remembered now. */
  get size(): number {
    return this.#users.size;
  }

  /** `userKey(userId)`, remembered. */
  userKey(userId: string): string {
    return this.#user(userId).userKey;
  }

  /** `connectionId(userId, deviceId)`, remembered. */
  connectionId(userId: string, deviceId: string): string {
    const user = this.#user(userId);
    let id = user.devices.get(deviceId);
    if (id === undefined) {
      if (user.devices.size >= this.#maxDevices) user.devices = new Map();
      id = `${user.userKey}-${deviceKey(userId, deviceId)}`;
      user.devices.set(deviceId, id);
    }
    return id;
  }

  #user(userId: string): UserIds {
    let user = this.#users.get(userId);
    if (user === undefined) {
      user = { userKey: userKey(userId), devices: new Map() };
      this.#users.set(userId, user);
    }
    return user;
  }
}
