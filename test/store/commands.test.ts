/**
 * Device commands in the cloud storage: kept per target device until acked, oldest first, bounded;
 * only to devices that connected (registered by their first pending look-up).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectionId } from '../../protocol/cluster/mod.js';
import { BadRequestError, QuotaExceededError, type CloudStore } from '../../actors/store/mod.js';
import { storeEnv, type StoreEnv } from './kit.js';

let env: StoreEnv;
let store: CloudStore;
let n = 0;
const user = (name: string): string => `${name}-${++n}`;

beforeAll(async () => {
  env = await storeEnv({ limits: { maxPendingCommands: 5, maxDevicesPerUser: 4 } });
  store = env.store;
});

afterAll(async () => {
  await env?.[Symbol.asyncDispose]();
});

/** The devices connect once (their pending look-up at connect makes them known). */
async function connected(userId: string, ...devices: string[]): Promise<void> {
  for (const deviceId of devices) await store.pending({ userId, deviceId });
}

const sendFrom = (userId: string, fromDevice: string, toDevice: string, body: unknown): ReturnType<CloudStore['send']> =>
  store.send({ userId, fromDevice, fromConnectionId: connectionId(userId, fromDevice), toDevice, body });

describe('store - device commands', () => {
  it('store - commands wait per device, oldest first, until acked; ack names the sender for delivered', async () => {
    const u = user('erin');
    await connected(u, 'laptop', 'tablet', 'phone');
    const first = await sendFrom(u, 'laptop', 'phone', { open: 'https://example.org/1' });
    const second = await sendFrom(u, 'tablet', 'phone', { open: 'https://example.org/2', n: 2n ** 63n });
    await sendFrom(u, 'laptop', 'tablet', 'for the tablet');
    expect(first.commandId).not.toBe(second.commandId);

    const waiting = await store.pending({ userId: u, deviceId: 'phone' });
    expect(waiting.commands).toEqual([
      { commandId: first.commandId, fromDevice: 'laptop', body: { open: 'https://example.org/1' } },
      { commandId: second.commandId, fromDevice: 'tablet', body: { open: 'https://example.org/2', n: 2n ** 63n } },
    ]);
    expect((await store.pending({ userId: u, deviceId: 'tablet' })).commands.map((c) => c.body)).toEqual(['for the tablet']);
    expect((await store.pending({ userId: u, deviceId: 'never' })).commands).toEqual([]);

    const acked = await store.ack({ userId: u, deviceId: 'phone', commandId: first.commandId });
    expect(acked).toEqual({ acked: true, fromConnectionId: connectionId(u, 'laptop') });
    expect((await store.pending({ userId: u, deviceId: 'phone' })).commands.map((c) => c.commandId)).toEqual([second.commandId]);

    // Acking again, or an id that was never sent: a no-op, nothing to deliver.
    expect(await store.ack({ userId: u, deviceId: 'phone', commandId: first.commandId })).toEqual({ acked: false });
    expect(await store.ack({ userId: u, deviceId: 'phone', commandId: '12345-0123456789abcdef' })).toEqual({ acked: false });
    expect(await store.ack({ userId: u, deviceId: 'phone', commandId: 'nonsense' })).toEqual({ acked: false });
    // The right id with the wrong nonce is refused: ids cannot be guessed from the sequence.
    const [seq] = second.commandId.split('-');
    expect(await store.ack({ userId: u, deviceId: 'phone', commandId: `${seq}-0000000000000000` })).toEqual({ acked: false });
    expect((await store.pending({ userId: u, deviceId: 'phone' })).commands).toHaveLength(1);
  });

  it('store - only the target device of the same user can see or ack a command', async () => {
    const a = user('owner');
    const b = user('intruder');
    await connected(a, 'laptop', 'phone');
    await connected(b, 'phone', 'x');
    const sent = await sendFrom(a, 'laptop', 'phone', 'secret');
    // Another device of the same user, and another user with the same device name: neither sees nor removes it.
    expect(await store.ack({ userId: a, deviceId: 'laptop', commandId: sent.commandId })).toEqual({ acked: false });
    expect(await store.ack({ userId: b, deviceId: 'phone', commandId: sent.commandId })).toEqual({ acked: false });
    expect((await store.pending({ userId: b, deviceId: 'phone' })).commands).toEqual([]);
    expect((await store.pending({ userId: a, deviceId: 'phone' })).commands.map((c) => c.body)).toEqual(['secret']);
    // A sender cannot claim another user's connection as the one to tell `delivered`.
    const forged = store.send({ userId: b, fromDevice: 'x', fromConnectionId: connectionId(a, 'laptop'), toDevice: 'phone', body: 1 });
    await expect(forged).rejects.toBeInstanceOf(BadRequestError);
  });

  it('store - a device holding the most unacked commands refuses more with quota_exceeded until it acks', async () => {
    const u = user('flood');
    await connected(u, 'a', 'b', 'c');
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await sendFrom(u, 'a', 'b', i)).commandId);
    const err = await sendFrom(u, 'a', 'b', 'one too many').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(QuotaExceededError);
    expect((err as QuotaExceededError).code).toBe('quota_exceeded');
    expect((err as Error).message).toMatch(/acknowledged/);
    // Other devices are not affected; after one ack there is room again.
    await sendFrom(u, 'a', 'c', 'fine');
    await store.ack({ userId: u, deviceId: 'b', commandId: ids[0]! });
    await sendFrom(u, 'a', 'b', 'room again');
    expect((await store.pending({ userId: u, deviceId: 'b' })).commands.map((c) => c.body)).toEqual([1, 2, 3, 4, 'room again']);
  });

  it('store - racing acks of one command: exactly one reports delivered', async () => {
    const u = user('race');
    await connected(u, 'a', 'b');
    const sent = await sendFrom(u, 'a', 'b', 'x');
    const results = await Promise.all(Array.from({ length: 6 }, () => store.ack({ userId: u, deviceId: 'b', commandId: sent.commandId })));
    expect(results.filter((r) => r.acked)).toHaveLength(1);
  });

  it('store - an ack keeps a delivered notice for the sender device, listed by its pending until cleared', async () => {
    const u = user('notice');
    await connected(u, 'laptop', 'phone', 'tablet');
    const one = await sendFrom(u, 'laptop', 'phone', 1);
    const two = await sendFrom(u, 'laptop', 'tablet', 2);
    const other = await sendFrom(u, 'tablet', 'phone', 3);
    expect(await store.pending({ userId: u, deviceId: 'laptop' })).toEqual({ commands: [] });

    await store.ack({ userId: u, deviceId: 'phone', commandId: one.commandId });
    await store.ack({ userId: u, deviceId: 'tablet', commandId: two.commandId });
    await store.ack({ userId: u, deviceId: 'phone', commandId: other.commandId });
    // Acking again stores nothing more.
    await store.ack({ userId: u, deviceId: 'phone', commandId: one.commandId });
    const listed = await store.pending({ userId: u, deviceId: 'laptop' });
    expect(listed.commands).toEqual([]);
    expect(listed.delivered).toEqual([one.commandId, two.commandId]);
    expect(listed.deliveredThrough).toBeGreaterThan(0);
    // Each sender device has its own notices; another user's device of the same name has none.
    expect((await store.pending({ userId: u, deviceId: 'tablet' })).delivered).toEqual([other.commandId]);
    expect((await store.pending({ userId: user('stranger'), deviceId: 'laptop' })).delivered).toBeUndefined();

    // A notice stored after the listing survives the clear of what was listed.
    const three = await sendFrom(u, 'laptop', 'phone', 4);
    await store.ack({ userId: u, deviceId: 'phone', commandId: three.commandId });
    expect(await store.clearDelivered({ userId: u, deviceId: 'laptop', through: listed.deliveredThrough! })).toEqual({ cleared: true });
    expect((await store.pending({ userId: u, deviceId: 'laptop' })).delivered).toEqual([three.commandId]);
    expect((await store.pending({ userId: u, deviceId: 'tablet' })).delivered).toEqual([other.commandId]);
    const last = await store.pending({ userId: u, deviceId: 'laptop' });
    await store.clearDelivered({ userId: u, deviceId: 'laptop', through: last.deliveredThrough! });
    expect(await store.pending({ userId: u, deviceId: 'laptop' })).toEqual({ commands: [] });
    await expect(store.clearDelivered({ userId: u, deviceId: 'laptop', through: 0 })).rejects.toMatchObject({ code: 'bad_request' });
  });

  it('store - a sender keeps only its newest delivered notices (bounded like commands)', async () => {
    const u = user('many');
    await connected(u, 'a', 'b');
    const ids: string[] = [];
    for (let i = 0; i < 7; i++) {
      const { commandId } = await sendFrom(u, 'a', 'b', i);
      await store.ack({ userId: u, deviceId: 'b', commandId });
      ids.push(commandId);
    }
    expect((await store.pending({ userId: u, deviceId: 'a' })).delivered).toEqual(ids.slice(2));
  });

  it('store - malformed commands are bad_request or too_large', async () => {
    const u = user('bad');
    await connected(u, 'a', 'b');
    await expect(sendFrom(u, 'a', '', 1)).rejects.toMatchObject({ code: 'bad_request' });
    await expect(sendFrom(u, 'a', 'b', undefined)).rejects.toMatchObject({ code: 'bad_request' });
    await expect(sendFrom(u, 'a', 'b', 'x'.repeat(65 * 1024))).rejects.toMatchObject({ code: 'too_large' });
    await expect(store.ack({ userId: u, deviceId: 'b', commandId: 5 as unknown as string })).rejects.toMatchObject({ code: 'bad_request' });
    await expect(store.pending({ userId: u, deviceId: 'd'.repeat(513) })).rejects.toMatchObject({ code: 'bad_request' });
  });

  it('store - commands go only to devices that connected; devices per user are a quota', async () => {
    const u = user('known');
    await connected(u, 'laptop');
    // Never connected: refused, and nothing is kept for it.
    const unknown = await sendFrom(u, 'laptop', 'ghost', 'x').catch((e: unknown) => e);
    expect(unknown).toBeInstanceOf(QuotaExceededError);
    expect((unknown as Error).message).toMatch(/never connected/);
    await connected(u, 'ghost');
    expect((await store.pending({ userId: u, deviceId: 'ghost' })).commands).toEqual([]);
    await sendFrom(u, 'laptop', 'ghost', 'now known');
    // Another user's device of the same name is not this user's device.
    const other = user('known-other');
    await connected(other, 'laptop');
    await expect(sendFrom(other, 'laptop', 'ghost', 'x')).rejects.toMatchObject({ code: 'quota_exceeded' });

    // maxDevicesPerUser is 4 here: laptop, ghost, and two more; a fifth is refused at its look-up, the
    // four keep working.
    await connected(u, 'three', 'four');
    const fifth = await store.pending({ userId: u, deviceId: 'five' }).catch((e: unknown) => e);
    expect(fifth).toMatchObject({ code: 'quota_exceeded' });
    expect((fifth as Error).message).toMatch(/4 devices/);
    await expect(sendFrom(u, 'laptop', 'five', 'x')).rejects.toMatchObject({ code: 'quota_exceeded' });
    expect((await store.pending({ userId: u, deviceId: 'ghost' })).commands.map((c) => c.body)).toEqual(['now known']);
  });
});
