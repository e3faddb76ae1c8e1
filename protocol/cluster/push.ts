/**
 * The push plane between the push server and the socket nodes: the patent's condition information,
 * the envelope published on NATS, and the subjects it is published on, all derived from ids.
 *
 * Push subjects (prefix `sm` by default):
 *   <prefix>.push.<slot>.<userKey>.<deviceKey>  one connection
 *   <prefix>.push.all                           every connection
 * where `slot` is the connection's **push slot**: the first PUSH_SLOT_HEX hex digits of its device
 * key (4,096 slots). The distributor places a connection by its slot (every connection of a slot goes
 * to the same socket node while membership holds), and a socket node subscribes to
 * `<prefix>.push.<slot>.>` once per slot it holds connections of, and to `<prefix>.push.all`. NATS
 * interest is therefore per slot, not per user: at most 4,096 subscriptions per node whatever its
 * connection count, and a node receives only pushes for slots it holds.
 *
 * A push to every device of a user is one message per device of the user (condition `devices`, the
 * store's list of the user's devices; `user` and `users` are resolved to it by the push server). A
 * device not connected anywhere has no interest: nats-server drops its message.
 *
 * The 80-bit user key can collide in theory: receivers compare the envelope's userId with the
 * session's before delivering, so a collision costs a message, never a leak.
 */
import { connectionId as connectionIdOf, parseConnectionId, USER_KEY_LENGTH } from './identity.js';

/** Hex digits of a device key that make its push slot: 16^3 = 4,096 slots. */
export const PUSH_SLOT_HEX = 3;

/** How many push slots there are. */
export const PUSH_SLOTS = 16 ** PUSH_SLOT_HEX;

/**
 * The push slot of a connection id (validated elsewhere: a well-formed id is assumed): the first
 * PUSH_SLOT_HEX digits of its device key. The distributor places by it; socket nodes subscribe by it.
 */
export function pushSlot(connId: string): string {
  return connId.slice(USER_KEY_LENGTH + 1, USER_KEY_LENGTH + 1 + PUSH_SLOT_HEX);
}

/** The patent's condition information: which connections a command goes to. */
export type PushCondition =
  /** `userId` is the connection's user: receivers deliver only to a session of that user. */
  | { kind: 'connection'; connectionId: string; userId: string }
  /** The given devices of a user (the store's device list), minus one connection. */
  | { kind: 'devices'; userId: string; deviceIds: string[]; exceptConnectionId?: string }
  /** Every device of a user: the push server asks the user's store for the device list. */
  | { kind: 'user'; userId: string; exceptConnectionId?: string }
  /** Every device of each user, as `user`. */
  | { kind: 'users'; userIds: string[] }
  | { kind: 'all' };

/**
 * What the push server publishes on a push subject, MessagePack encoded. `userId` absent only for
 * condition `all`. Receivers deliver `frame` to each matching local session whose userId equals
 * `userId` and whose connection id is not `except`.
 */
export interface PushEnvelope {
  userId?: string;
  except?: string;
  frame: Record<string, unknown>;
  /** When the push server published it (ms since the epoch, its clock): socket nodes measure push delivery latency with it. */
  at?: number;
}

/** Subjects of the push plane. */
export const pushSubjects = {
  /** One connection. */
  connection: (prefix: string, connId: string): string => {
    const { userKey: u, deviceKey: d } = parseConnectionId(connId);
    return `${prefix}.push.${pushSlot(connId)}.${u}.${d}`;
  },
  /** The connection of (`userId`, `deviceId`). */
  device: (prefix: string, userId: string, deviceId: string): string => pushSubjects.connection(prefix, connectionIdOf(userId, deviceId)),
  /** Every connection. */
  all: (prefix: string): string => `${prefix}.push.all`,
  /** What a socket node subscribes to for the connections of one push slot it holds. */
  slotInterest: (prefix: string, slot: string): string => `${prefix}.push.${slot}.>`,
} as const;
