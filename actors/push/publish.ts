/**
 * The push server's one job: turn condition information into NATS subjects and publish the command
 * information there, for the socket nodes holding the matching connections to deliver.
 *
 *   condition                      subject (actors/identity.ts)        envelope (PushEnvelope)
 *   connection {connectionId,...}  <prefix>.push.<userKey>.<deviceKey>  {userId, frame}
 *   user {userId, except?}         <prefix>.push.<userKey>.all          {userId, except?, frame}
 *   users {userIds}                one per user, as `user`              {userId, frame}
 *   all                            <prefix>.push.all                    {frame}
 *
 * Envelopes are MessagePack (runtime/codec.ts) and published with plain core NATS: a push is a
 * notification, at most once. Losing one costs no data: the records are durable and a client pulls
 * from its own cursor whenever it connects. No lookup table is consulted: subjects come from the ids.
 */
import type { NatsConnection } from '@nats-io/nats-core';
import { encode } from '../../protocol/mod.js';
import { isConnectionId, parseConnectionId, pushSubjects, userKey } from '../../protocol/cluster/mod.js';
import type { PushCondition, PushEnvelope } from '../../protocol/cluster/mod.js';
import { BadPushError } from './errors.js';

/** Most users one `users` condition may name (one publish each). */
export const MAX_PUSH_USERS = 10_000;

function requireUserId(field: string, v: unknown): string {
  if (typeof v !== 'string' || v.length === 0) throw new BadPushError(`${field} must be a non-empty string`);
  return v;
}

function isFrame(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && typeof (v as { t?: unknown }).t === 'string';
}

/**
 * Publishes `command` (a server frame such as `{t:'sync', collection, rev}`) to the connections
 * `condition` selects. Returns how many messages were published. Throws BadPushError on a malformed
 * condition or command, before publishing anything.
 */
export function publishPush(nc: NatsConnection, prefix: string, condition: PushCondition, command: Record<string, unknown>): number {
  if (!isFrame(command)) throw new BadPushError('command must be a map with a string `t` (a server frame)');
  const at = Date.now();
  // `at` lets socket nodes measure publish-to-delivery latency (clocks of different hosts must agree: NTP).
  const send = (subject: string, envelope: PushEnvelope): void => nc.publish(subject, encode({ ...envelope, at }));
  const c = condition as PushCondition | null | undefined;
  switch (c?.kind) {
    case 'connection': {
      if (typeof c.connectionId !== 'string' || !isConnectionId(c.connectionId)) throw new BadPushError('condition.connectionId is not a connection id');
      const userId = requireUserId('condition.userId', c.userId);
      // The connection id's user part must be this user's: a push never crosses users.
      if (parseConnectionId(c.connectionId).userKey !== userKey(userId)) throw new BadPushError('condition.connectionId belongs to another user than condition.userId');
      send(pushSubjects.connection(prefix, c.connectionId), { userId, frame: command });
      return 1;
    }
    case 'user': {
      const userId = requireUserId('condition.userId', c.userId);
      const except = c.exceptConnectionId;
      if (except !== undefined && typeof except !== 'string') throw new BadPushError('condition.exceptConnectionId must be a string');
      send(pushSubjects.user(prefix, userId), except === undefined ? { userId, frame: command } : { userId, except, frame: command });
      return 1;
    }
    case 'users': {
      if (!Array.isArray(c.userIds)) throw new BadPushError('condition.userIds must be an array');
      if (c.userIds.length > MAX_PUSH_USERS) throw new BadPushError(`condition.userIds names ${c.userIds.length} users; the limit is ${MAX_PUSH_USERS}, split the push`);
      const ids = [...new Set(c.userIds.map((u, i) => requireUserId(`condition.userIds[${i}]`, u)))];
      for (const userId of ids) send(pushSubjects.user(prefix, userId), { userId, frame: command });
      return ids.length;
    }
    case 'all':
      send(pushSubjects.all(prefix), { frame: command });
      return 1;
    default:
      throw new BadPushError(`condition.kind must be connection, user, users or all, got ${JSON.stringify((c as { kind?: unknown } | null | undefined)?.kind)}`);
  }
}
