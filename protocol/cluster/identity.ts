/**
 * Connection identifiers: computed from ids alone, the same on every node.
 *
 * The connection-id algorithm (documented in docs/protocol.md, "Connection identifier"):
 *
 *   userKey      = lowercase hex of SHA-256("syncmesh/v1/user\0" + userId), first 20 characters (80 bits)
 *   deviceKey    = lowercase hex of SHA-256("syncmesh/v1/device\0" + userId + "\0" + deviceId), first 12 characters
 *   connectionId = userKey + "-" + deviceKey
 *
 * userId and deviceId are taken as UTF-8. The same pair gives the same id on every distributor, with
 * no shared state. Because the user part is a prefix, every routing key a push needs is computed
 * from the ids alone: no lookup table (push subjects: push.ts).
 */
import { createHash } from 'node:crypto';

export const USER_KEY_LENGTH = 20;
export const DEVICE_KEY_LENGTH = 12;
const CONNECTION_ID = /^[0-9a-f]{20}-[0-9a-f]{12}$/;

function sha256hex(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

/** The user part of every connection id of `userId`. */
export function userKey(userId: string): string {
  return sha256hex(`syncmesh/v1/user\0${userId}`).slice(0, USER_KEY_LENGTH);
}

/** The device part of the connection id of (`userId`, `deviceId`). */
export function deviceKey(userId: string, deviceId: string): string {
  return sha256hex(`syncmesh/v1/device\0${userId}\0${deviceId}`).slice(0, DEVICE_KEY_LENGTH);
}

/** The connection identifier of (`userId`, `deviceId`): deterministic, the same on every instance. */
export function connectionId(userId: string, deviceId: string): string {
  return `${userKey(userId)}-${deviceKey(userId, deviceId)}`;
}

/** True when `id` has the shape of a connection identifier. */
export function isConnectionId(id: string): boolean {
  return CONNECTION_ID.test(id);
}

/** Splits a connection id into its user and device keys. Throws on a malformed id. */
export function parseConnectionId(id: string): { userKey: string; deviceKey: string } {
  if (!isConnectionId(id)) throw new TypeError(`not a connection id: ${JSON.stringify(id)}`);
  return { userKey: id.slice(0, USER_KEY_LENGTH), deviceKey: id.slice(USER_KEY_LENGTH + 1) };
}
