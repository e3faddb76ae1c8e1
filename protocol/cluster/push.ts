/**
 * The push plane between the push server and the socket nodes: the patent's condition information,
 * the envelope published on NATS, and the subjects it is published on, all derived from ids.
 *
 * Push subjects (prefix `sm` by default):
 *   <prefix>.push.<userKey>.<deviceKey>  one connection
 *   <prefix>.push.<userKey>.all          every connection of a user (the envelope may name one to skip)
 *   <prefix>.push.all                    every connection
 * A socket node subscribes to `<prefix>.push.<userKey>.>` once per user it holds connections of,
 * and to `<prefix>.push.all`. The 80-bit user key can collide in theory: receivers compare the
 * envelope's userId with the session's before delivering, so a collision costs a message, never a leak.
 */
import { parseConnectionId, userKey } from './identity.js';

/** The patent's condition information: which connections a command goes to. */
export type PushCondition =
  /** `userId` is the connection's user: receivers deliver only to a session of that user. */
  | { kind: 'connection'; connectionId: string; userId: string }
  | { kind: 'user'; userId: string; exceptConnectionId?: string }
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
    return `${prefix}.push.${u}.${d}`;
  },
  /** Every connection of a user. */
  user: (prefix: string, userId: string): string => `${prefix}.push.${userKey(userId)}.all`,
  /** Every connection. */
  all: (prefix: string): string => `${prefix}.push.all`,
  /** What a socket node subscribes to for the users it holds. */
  userInterest: (prefix: string, uKey: string): string => `${prefix}.push.${uKey}.>`,
} as const;
