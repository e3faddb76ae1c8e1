/**
 * The pending-commands look-up at connect, asked of a storage node where the user's store actor is not
 * active: answered from the stored indexes without an activation when nothing waits for a registered
 * device; passed on to the actor for a new device (it registers it) and for a device with commands.
 * Storage nodes are started one after another on the same streams, as a restarted or new node would.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import type { PendingResult, SendResult, StoreRequest } from '../../actors/messages.js';
import { pushKind } from '../../actors/push/mod.js';
import { connectionId } from '../../protocol/cluster/mod.js';
import { createCloudStore, storeKind, STORE_KIND, type CloudStore } from '../../actors/store/mod.js';
import { startNode, type ActorNode } from '../../runtime/mod.js';
import { eventually, storeEnv, type StoreEnv } from './kit.js';

const logger = pino({ level: process.env['LOG_LEVEL'] ?? 'error' });
const timing = { heartbeatMs: 150, downAfterMs: 1_500, logger };
let env: StoreEnv;
let caller: ActorNode;

beforeAll(async () => {
  env = await storeEnv();
  caller = await startNode({ nats: env.ns.url, nodeId: 'caller', roles: ['socket'], kinds: [], ...timing });
});

afterAll(async () => {
  await caller?.close();
  await env?.[Symbol.asyncDispose]();
});

/** A storage node of its own (its own CloudStore, as a separate process has), seen by the caller. */
async function storageNode(id: string): Promise<{ node: ActorNode; store: CloudStore; close(): Promise<void> }> {
  const store = await createCloudStore({ nc: env.nc });
  const node = await startNode({ nats: env.ns.url, nodeId: id, roles: ['storage', 'push'], kinds: [storeKind(store), pushKind()], ...timing });
  await eventually(`the caller to see ${id} as the only storage node`, () =>
    caller.members().filter((m) => m.kinds.includes(STORE_KIND)).map((m) => m.nodeId).join() === id ? true : undefined,
  );
  return {
    node,
    store,
    close: async () => {
      await node.close();
      await store.close();
      await eventually(`the caller to see ${id} gone`, () => (caller.members().some((m) => m.nodeId === id) ? undefined : true));
    },
  };
}

const ask = <T>(request: StoreRequest): Promise<T> => caller.ask<T>({ kind: STORE_KIND, id: request.userId }, request, { timeoutMs: 15_000 });
const pending = (userId: string, deviceId: string): Promise<PendingResult> => ask<PendingResult>({ type: 'pending', userId, deviceId });
const storeActivations = (n: ActorNode): number => n.metrics().activations;

describe('store - pending look-up without an activation', () => {
  it('pending - a registered device with nothing waiting is answered with no store actor; a new device and one with a command go to the actor', async () => {
    const userId = 'pat';

    // First connects: the devices are new, so the actor registers them.
    const s1 = await storageNode('st1');
    expect(await pending(userId, 'phone')).toEqual({ commands: [] });
    expect(await pending(userId, 'tablet')).toEqual({ commands: [] });
    expect(s1.node.metrics().answeredInactive).toBe(0);
    expect(storeActivations(s1.node)).toBeGreaterThanOrEqual(1);
    await s1.close();

    // Another storage node, the user's store actor active nowhere: the phone reconnects.
    const s2 = await storageNode('st2');
    expect(await pending(userId, 'phone')).toEqual({ commands: [] });
    expect(await pending(userId, 'tablet')).toEqual({ commands: [] });
    expect([s2.node.metrics().answeredInactive, storeActivations(s2.node)]).toEqual([2, 0]);
    // A device the store does not know yet: the actor registers it (it is then in the user's devices).
    expect(await pending(userId, 'watch')).toEqual({ commands: [] });
    expect([s2.node.metrics().answeredInactive, storeActivations(s2.node)]).toEqual([2, 1]);
    expect(await ask<{ deviceIds: string[] }>({ type: 'devices', userId })).toEqual({ deviceIds: ['phone', 'tablet', 'watch'] });
    // A command for the tablet, kept until it acks.
    const sent = await ask<SendResult>({ type: 'send', userId, fromDevice: 'phone', fromConnectionId: connectionId(userId, 'phone'), toDevice: 'tablet', body: { n: 1 } });
    await s2.close();

    // Next node: the tablet's look-up finds the command, so the actor answers it; the phone's (nothing for it)
    // is answered without one, but only while the actor is not active: after the tablet's it goes to the actor.
    const s3 = await storageNode('st3');
    expect(await pending(userId, 'phone')).toEqual({ commands: [] });
    expect([s3.node.metrics().answeredInactive, storeActivations(s3.node)]).toEqual([1, 0]);
    const forTablet = await pending(userId, 'tablet');
    expect(forTablet.commands).toEqual([{ commandId: sent.commandId, fromDevice: 'phone', body: { n: 1 } }]);
    expect([s3.node.metrics().answeredInactive, storeActivations(s3.node)]).toEqual([1, 1]);
    expect(await pending(userId, 'phone')).toEqual({ commands: [] });
    expect(s3.node.metrics().answeredInactive).toBe(1);
    await s3.close();
  });
});
