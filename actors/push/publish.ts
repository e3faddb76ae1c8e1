/**
 * The push server's one job: turn condition information into NATS subjects and publish the command
 * information there, for the socket nodes holding the matching connections to deliver.
 *
 *   condition                                  subject (protocol/cluster/push.ts)               envelope
 *   connection {connectionId, userId}          <prefix>.push.<slot>.<userKey>.<deviceKey>        {userId, frame}
 *   devices {userId, deviceIds, except?}       one per device but `except`, as `connection`      {userId, frame}
 *   user {userId, except?} / users {userIds}   resolved to `devices` first (resolveUsers below)
 *   all                                        <prefix>.push.all                                 {frame}
 *
 * Envelopes are MessagePack (protocol/codec.ts) and published with plain core NATS: a push is a
 * notification, at most once. Losing one costs no data: the records are durable and a client pulls
 * from its own cursor whenever it connects. No lookup table is consulted: subjects come from the ids.
 */
import type { NatsConnection } from '@nats-io/nats-core';
import { encode } from '../../protocol/mod.js';
import { connectionId, isConnectionId, parseConnectionId, pushSubjects, userKey } from '../../protocol/cluster/mod.js';
import type { PushCondition, PushEnvelope } from '../../protocol/cluster/mod.js';
import { BadPushError } from './errors.js';

/** Most users one `users` condition may name (one device-list look-up each). */
export const MAX_PUSH_USERS = 10_000;

/** Most devices one `devices` condition may name (one publish each). */
export const MAX_PUSH_DEVICES = 1_000;

/** How publishPush turns a user's device into its connection id: the plain function, or an IdentityCache. */
export interface ConnectionIds {
  connectionId(userId: string, deviceId: string): string;
}

const COMPUTED: ConnectionIds = { connectionId };

/** A condition publishPush takes as it is: `user` and `users` are resolved to `devices` first. */
export type ResolvedCondition = Exclude<PushCondition, { kind: 'user' } | { kind: 'users' }>;

function requireId(field: string, v: unknown): string {
  if (typeof v !== 'string' || v.length === 0) throw new BadPushError(`${field} must be a non-empty string`);
  return v;
}

function requireExcept(v: unknown): string | undefined {
  if (v !== undefined && typeof v !== 'string') throw new BadPushError('condition.exceptConnectionId must be a string');
  return v;
}

function isFrame(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && typeof (v as { t?: unknown }).t === 'string';
}

/** True when `condition` names users whose devices must be looked up before publishPush. */
export function needsDevices(condition: PushCondition): condition is Extract<PushCondition, { kind: 'user' } | { kind: 'users' }> {
  const kind = (condition as PushCondition | null | undefined)?.kind;
  return kind === 'user' || kind === 'users';
}

/**
 * Resolves a `user` or `users` condition to one `devices` condition per user, with `devicesOf` (the
 * user's store: the devices it knows). Throws BadPushError on a malformed condition, before looking up.
 */
export async function resolveUsers(
  condition: Extract<PushCondition, { kind: 'user' } | { kind: 'users' }>,
  devicesOf: (userId: string) => Promise<readonly string[]>,
): Promise<ResolvedCondition[]> {
  if (condition.kind === 'user') {
    const userId = requireId('condition.userId', condition.userId);
    const except = requireExcept(condition.exceptConnectionId);
    const deviceIds = [...(await devicesOf(userId))];
    return [except === undefined ? { kind: 'devices', userId, deviceIds } : { kind: 'devices', userId, deviceIds, exceptConnectionId: except }];
  }
  if (!Array.isArray(condition.userIds)) throw new BadPushError('condition.userIds must be an array');
  if (condition.userIds.length > MAX_PUSH_USERS) {
    throw new BadPushError(`condition.userIds names ${condition.userIds.length} users; the limit is ${MAX_PUSH_USERS}, split the push`);
  }
  const ids = [...new Set(condition.userIds.map((u, i) => requireId(`condition.userIds[${i}]`, u)))];
  const out: ResolvedCondition[] = [];
  // A bounded number of look-ups in flight: a push to 10,000 users must not ask 10,000 stores at once.
  const LOOKUPS_IN_FLIGHT = 32;
  for (let i = 0; i < ids.length; i += LOOKUPS_IN_FLIGHT) {
    const batch = ids.slice(i, i + LOOKUPS_IN_FLIGHT);
    const lists = await Promise.all(batch.map((u) => devicesOf(u)));
    batch.forEach((userId, j) => out.push({ kind: 'devices', userId, deviceIds: [...lists[j]!] }));
  }
  return out;
}

/**
 * Publishes `command` (a server frame such as `{t:'sync', collection, rev}`) to the connections
 * `condition` selects. Returns how many messages were published. Throws BadPushError on a malformed
 * condition or command, or on a `user`/`users` condition (resolve it with resolveUsers first), before
 * publishing anything. `connectionIds` computes the devices' connection ids (a push node passes its IdentityCache).
 */
export function publishPush(nc: NatsConnection, prefix: string, condition: PushCondition, command: Record<string, unknown>, connectionIds: ConnectionIds = COMPUTED): number {
  if (!isFrame(command)) throw new BadPushError('command must be a map with a string `t` (a server frame)');
  const at = Date.now();
  // `at` lets socket nodes measure publish-to-delivery latency (clocks of different hosts must agree: NTP).
  const send = (subject: string, envelope: PushEnvelope): void => nc.publish(subject, encode({ ...envelope, at }));
  const c = condition as PushCondition | null | undefined;
  switch (c?.kind) {
    case 'connection': {
      if (typeof c.connectionId !== 'string' || !isConnectionId(c.connectionId)) throw new BadPushError('condition.connectionId is not a connection id');
      const userId = requireId('condition.userId', c.userId);
      // The connection id's user part must be this user's: a push never crosses users.
      if (parseConnectionId(c.connectionId).userKey !== userKey(userId)) throw new BadPushError('condition.connectionId belongs to another user than condition.userId');
      send(pushSubjects.connection(prefix, c.connectionId), { userId, frame: command });
      return 1;
    }
    case 'devices': {
      const userId = requireId('condition.userId', c.userId);
      const except = requireExcept(c.exceptConnectionId);
      if (!Array.isArray(c.deviceIds)) throw new BadPushError('condition.deviceIds must be an array');
      if (c.deviceIds.length > MAX_PUSH_DEVICES) throw new BadPushError(`condition.deviceIds names ${c.deviceIds.length} devices; the limit is ${MAX_PUSH_DEVICES}`);
      const ids = new Set<string>();
      c.deviceIds.forEach((d, i) => {
        const id = connectionIds.connectionId(userId, requireId(`condition.deviceIds[${i}]`, d));
        if (id !== except) ids.add(id);
      });
      // One encoding for every device: the envelope names the user, not the device.
      const bytes = encode({ userId, frame: command, at } satisfies PushEnvelope);
      for (const id of ids) nc.publish(pushSubjects.connection(prefix, id), bytes);
      return ids.size;
    }
    case 'user':
    case 'users':
      throw new BadPushError(`condition.kind ${c.kind} names users, not connections: resolve it to \`devices\` with resolveUsers first`);
    case 'all':
      send(pushSubjects.all(prefix), { frame: command });
      return 1;
    default:
      throw new BadPushError(`condition.kind must be connection, devices, user, users or all, got ${JSON.stringify((c as { kind?: unknown } | null | undefined)?.kind)}`);
  }
}
