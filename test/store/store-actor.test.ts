/**
 * The store and push actors on a real runtime: a storage node hosting both, asked from another node
 * over NATS, its pushes received the way a socket node subscribes.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import { pino } from 'pino';
import { connectionId, pushSubjects, userKey } from '../../protocol/cluster/mod.js';
import type { AckResult, ClearDeliveredResult, CommitResult, DevicesResult, PendingResult, PullResult, PushRequest, SendResult, StoreRequest } from '../../actors/messages.js';
import type { PushEnvelope } from '../../protocol/cluster/mod.js';
import { pushKind, PUSH_KIND } from '../../actors/push/mod.js';
import { storeKind, STORE_KIND } from '../../actors/store/mod.js';
import { decode } from '../../protocol/mod.js';
import { RemoteActorError, startNode, type ActorNode } from '../../runtime/mod.js';
import { eventually, storeEnv, type StoreEnv } from './kit.js';

const logger = pino({ level: process.env['LOG_LEVEL'] ?? 'error' });
let env: StoreEnv;
let storage: ActorNode;
let caller: ActorNode;
let watcher: NatsConnection;

beforeAll(async () => {
  env = await storeEnv();
  const timing = { heartbeatMs: 150, downAfterMs: 1_500, logger };
  storage = await startNode({ nats: env.ns.url, nodeId: 'storage', roles: ['storage', 'push'], kinds: [storeKind(env.store), pushKind()], ...timing });
  caller = await startNode({ nats: env.ns.url, nodeId: 'caller', roles: ['socket'], kinds: [], ...timing });
  watcher = await connect({ servers: env.ns.url });
  await eventually('the caller to see the storage node', () => (caller.members().some((m) => m.nodeId === 'storage' && m.kinds.includes(STORE_KIND)) ? true : undefined));
});

afterAll(async () => {
  await caller?.close();
  await storage?.close();
  await watcher?.close();
  await env?.[Symbol.asyncDispose]();
});

const ask = <T>(request: StoreRequest): Promise<T> => caller.ask<T>({ kind: STORE_KIND, id: request.userId }, request, { timeoutMs: 15_000 });

/** The pushes of one user, as a socket node holding that user's connections receives them. */
async function userPushes(userId: string): Promise<{ got: { subject: string; envelope: PushEnvelope }[]; sub: Subscription }> {
  const got: { subject: string; envelope: PushEnvelope }[] = [];
  // Every device subject of the user, whatever its slot (a socket node subscribes per slot instead).
  const sub = watcher.subscribe(`sm.push.*.${userKey(userId)}.*`, {
    callback: (_e, m) => {
      // `at` (publish time, for the delivery latency metric) is checked and left out of the comparisons.
      const { at, ...envelope } = decode(m.data) as PushEnvelope;
      // (A missing `at` is kept visible, so the comparisons fail on it.)
      got.push({ subject: m.subject, envelope: typeof at === 'number' ? envelope : ({ ...envelope, atMissing: true } as PushEnvelope) });
    },
  });
  await watcher.flush();
  return { got, sub };
}

describe('store actor - asks and pushes', () => {
  it('store actor - an ask commit is answered and each other known device of the user gets sync', async () => {
    const userId = 'alice';
    const laptop = connectionId(userId, 'laptop');
    const { got, sub } = await userPushes(userId);
    try {
      // The phone's first pull makes it a known device (before any commit: it has nothing yet).
      expect(await ask<PullResult>({ type: 'pull', userId, deviceId: 'phone', collection: 'bookmarks', since: 0 })).toEqual({ rev: 0, changes: [], more: false });
      const r = await ask<CommitResult>({ type: 'commit', userId, deviceId: 'laptop', connectionId: laptop, collection: 'bookmarks', changes: [{ key: 'k', value: { n: 2n ** 40n } }] });
      expect(r.conflicts).toEqual([]);
      const push = await eventually('the sync push', () => got[0]);
      expect(push.subject).toBe(pushSubjects.device('sm', userId, 'phone'));
      // A small commit's records ride in its sync (from: the collection's rev before it, 0 for a new one).
      expect(push.envelope).toEqual({ userId, frame: { t: 'sync', collection: 'bookmarks', rev: r.rev, from: 0, changes: [{ key: 'k', rev: r.rev, value: { n: 2n ** 40n } }] } });
      // The store's device list, as the push server asks it for `user` conditions.
      expect(await ask<DevicesResult>({ type: 'devices', userId })).toEqual({ deviceIds: ['phone', 'laptop'] });

      const pulled = await ask<PullResult>({ type: 'pull', userId, collection: 'bookmarks', since: 0 });
      expect(pulled.changes).toHaveLength(1);
      expect(BigInt((pulled.changes[0]!.value as { n: bigint }).n)).toBe(2n ** 40n);

      // A commit that writes nothing (only a conflict) pushes nothing: the next push is the next write's.
      await ask<CommitResult>({ type: 'commit', userId, deviceId: 'laptop', connectionId: laptop, collection: 'bookmarks', changes: [{ key: 'k', value: 0, base: 0 }] });
      const next = await ask<CommitResult>({ type: 'commit', userId, deviceId: 'phone', connectionId: connectionId(userId, 'phone'), collection: 'bookmarks', changes: [{ key: 'j', value: 1 }] });
      await eventually('the second sync push', () => got[1]);
      expect(got[1]!.subject).toBe(pushSubjects.device('sm', userId, 'laptop'));
      expect(got).toHaveLength(2);
      expect(got[1]!.envelope).toEqual({
        userId,
        frame: { t: 'sync', collection: 'bookmarks', rev: next.rev, from: r.rev, changes: [{ key: 'j', rev: next.rev, value: 1 }] },
      });
    } finally {
      sub.unsubscribe();
    }
  });

  it('store actor - commits of one user are applied and pushed in the order sent', async () => {
    const userId = 'orderly';
    const me = connectionId(userId, 'a');
    const { got, sub } = await userPushes(userId);
    try {
      await ask<PullResult>({ type: 'pull', userId, deviceId: 'b', collection: 'c', since: 0 });
      const results = await Promise.all(
        Array.from({ length: 20 }, (_, i) => ask<CommitResult>({ type: 'commit', userId, deviceId: 'a', connectionId: me, collection: 'c', changes: [{ key: 'k', value: i }] })),
      );
      const revs = results.map((r) => r.rev);
      expect([...revs].sort((p, q) => p - q)).toEqual(revs);
      const pulled = await ask<PullResult>({ type: 'pull', userId, collection: 'c', since: 0 });
      expect(pulled.changes).toEqual([{ key: 'k', rev: revs.at(-1), value: 19 }]);
      await eventually('20 sync pushes', () => (got.length === 20 ? true : undefined));
      expect(got.map((g) => g.envelope.frame['rev'])).toEqual(revs);
    } finally {
      sub.unsubscribe();
    }
  });

  it('store actor - send pushes command to the target device, ack pushes delivered to the sender', async () => {
    const userId = 'erin';
    const laptop = connectionId(userId, 'laptop');
    const phone = connectionId(userId, 'phone');
    // Both devices connected once: their look-ups at connect made them known devices.
    await ask<PendingResult>({ type: 'pending', userId, deviceId: 'laptop' });
    await ask<PendingResult>({ type: 'pending', userId, deviceId: 'phone' });
    const { got, sub } = await userPushes(userId);
    try {
      const sent = await ask<SendResult>({ type: 'send', userId, fromDevice: 'laptop', fromConnectionId: laptop, toDevice: 'phone', body: { open: 'https://example.org' } });
      const command = await eventually('the command push', () => got[0]);
      expect(command.subject).toBe(pushSubjects.connection('sm', phone));
      expect(command.envelope).toEqual({ userId, frame: { t: 'command', commandId: sent.commandId, fromDevice: 'laptop', body: { open: 'https://example.org' } } });

      const waiting = await ask<PendingResult>({ type: 'pending', userId, deviceId: 'phone' });
      expect(waiting.commands.map((c) => c.commandId)).toEqual([sent.commandId]);

      expect(await ask<AckResult>({ type: 'ack', userId, deviceId: 'phone', commandId: sent.commandId })).toEqual({ acked: true });
      const delivered = await eventually('the delivered push', () => got[1]);
      expect(delivered.subject).toBe(pushSubjects.connection('sm', laptop));
      expect(delivered.envelope).toEqual({ userId, frame: { t: 'delivered', commandId: sent.commandId } });
      expect(await ask<AckResult>({ type: 'ack', userId, deviceId: 'phone', commandId: sent.commandId })).toEqual({ acked: false });

      // The sender's notice waits for its next pending list, until cleared.
      const notices = await ask<PendingResult>({ type: 'pending', userId, deviceId: 'laptop' });
      expect(notices.delivered).toEqual([sent.commandId]);
      expect(await ask<ClearDeliveredResult>({ type: 'clearDelivered', userId, deviceId: 'laptop', through: notices.deliveredThrough! })).toEqual({ cleared: true });
      expect((await ask<PendingResult>({ type: 'pending', userId, deviceId: 'laptop' })).delivered).toBeUndefined();
    } finally {
      sub.unsubscribe();
    }
  });

  it('store actor - a device that becomes known after a commit it missed gets a sync for it (the window between welcome and registration)', async () => {
    const userId = 'gina';
    const { got, sub } = await userPushes(userId);
    try {
      // The laptop commits while the phone, just connected, is not known yet: the commit lists no phone.
      const r = await ask<CommitResult>({ type: 'commit', userId, deviceId: 'laptop', connectionId: connectionId(userId, 'laptop'), collection: 'tabs', changes: [{ key: 'k', value: 1 }] });
      expect(got).toEqual([]);
      // The phone's connect look-up registers it: it is told the revision of what the store has cached.
      await ask<PendingResult>({ type: 'pending', userId, deviceId: 'phone' });
      const sync = await eventually('the sync of the new device', () => got[0]);
      expect(sync).toEqual({ subject: pushSubjects.device('sm', userId, 'phone'), envelope: { userId, frame: { t: 'sync', collection: 'tabs', rev: r.rev } } });
      // Known now: the next look-up tells it nothing more.
      await ask<PendingResult>({ type: 'pending', userId, deviceId: 'phone' });
      await ask<CommitResult>({ type: 'commit', userId, deviceId: 'laptop', connectionId: connectionId(userId, 'laptop'), collection: 'tabs', changes: [{ key: 'k', value: 2 }] });
      await eventually('the next commit\'s sync', () => got[1]);
      expect(got).toHaveLength(2);
      expect(got[1]!.envelope.frame).toMatchObject({ t: 'sync', collection: 'tabs', from: r.rev });
    } finally {
      sub.unsubscribe();
    }
  });

  it('store actor - a push to every device of a user (condition user) reaches each device the store knows, in order with device pushes', async () => {
    const userId = 'frank';
    for (const deviceId of ['desk', 'phone']) await ask<PullResult>({ type: 'pull', userId, deviceId, collection: 'c', since: 0 });
    const { got, sub } = await userPushes(userId);
    try {
      const push = (condition: PushRequest['condition'], rev: number): void => caller.tell({ kind: PUSH_KIND, id: userKey(userId) }, { type: 'push', condition, command: { t: 'sync', collection: 'c', rev } } satisfies PushRequest);
      // The first needs the store's device list; the second does not, and still comes after it.
      push({ kind: 'user', userId, exceptConnectionId: connectionId(userId, 'phone') }, 1);
      push({ kind: 'connection', connectionId: connectionId(userId, 'phone'), userId }, 2);
      push({ kind: 'user', userId }, 3);
      await eventually('four pushes', () => (got.length === 4 ? true : undefined));
      expect(got.map((g) => [g.subject, g.envelope.frame['rev']])).toEqual([
        [pushSubjects.device('sm', userId, 'desk'), 1],
        [pushSubjects.device('sm', userId, 'phone'), 2],
        [pushSubjects.device('sm', userId, 'desk'), 3],
        [pushSubjects.device('sm', userId, 'phone'), 3],
      ]);
    } finally {
      sub.unsubscribe();
    }
  });

  it('store actor - bad requests fail with the public code; a request for another user is refused', async () => {
    const bad = await ask({ type: 'commit', userId: 'frank', deviceId: 'd', connectionId: connectionId('frank', 'd'), collection: '', changes: [] }).catch((e: unknown) => e);
    expect(bad).toBeInstanceOf(RemoteActorError);
    expect((bad as RemoteActorError).appCode).toBe('bad_request');
    expect((bad as Error).message).toMatch(/collection/);

    const large = await ask({ type: 'commit', userId: 'frank', deviceId: 'd', connectionId: connectionId('frank', 'd'), collection: 'c', changes: [{ key: 'k', value: 'x'.repeat(300 * 1024) }] }).catch((e: unknown) => e);
    expect((large as RemoteActorError).appCode).toBe('too_large');

    // Addressed to mallory's actor but naming frank: the actor serves its own user only.
    const foreign = await caller
      .ask({ kind: STORE_KIND, id: 'mallory' }, { type: 'pull', userId: 'frank', collection: 'c', since: 0 }, { timeoutMs: 15_000 })
      .catch((e: unknown) => e);
    expect((foreign as RemoteActorError).appCode).toBe('bad_request');

    const unknown = await caller.ask({ kind: STORE_KIND, id: 'frank' }, { type: 'drop-tables', userId: 'frank' }, { timeoutMs: 15_000 }).catch((e: unknown) => e);
    expect((unknown as RemoteActorError).appCode).toBe('bad_request');
  });
});
