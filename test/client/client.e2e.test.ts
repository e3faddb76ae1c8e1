/**
 * Node clients (with `ws`) against the real local cluster: distributor, socket nodes, storage and push
 * in their own processes over a real nats-server. Each test uses its own user, so they share one cluster.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { memoryCache, type Cache } from '../../client/cache.js';
import { createSyncClient } from '../../client/client.js';
import type { WebSocketConstructor } from '../../client/transport.js';
import type { ChangeEvent, CommandEvent, SyncClient } from '../../client/types.js';
import { localCluster, type LocalCluster } from '../kit/cluster.js';
import { devToken } from '../kit/device.js';
import { waitFor } from './fake-cluster.js';
import { decode, INLINE_SYNC_MAX_BYTES } from '../../protocol/mod.js';

let cluster: LocalCluster;
beforeAll(async () => {
  cluster = await localCluster({ socketNodes: 2, timeoutMs: 90_000 });
}, 120_000);
afterAll(async () => {
  await cluster?.[Symbol.asyncDispose]();
}, 60_000);

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

/**
 * A WebSocket class that keeps every socket a client opens, so a test can cut one as a network failure
 * would, and the `t` of every frame the client sends and receives.
 */
function trackedWebSocket(into: WebSocket[], sent: string[], received: string[]): WebSocketConstructor {
  return class TrackedWebSocket extends WebSocket {
    constructor(url: string) {
      super(url);
      into.push(this);
      this.on('message', (data: Buffer) => received.push(String((decode(data) as { t?: unknown }).t)));
      const send = this.send.bind(this) as (...args: unknown[]) => void;
      this.send = ((data: Uint8Array, ...rest: unknown[]) => {
        sent.push(String((decode(data) as { t?: unknown }).t));
        send(data, ...rest);
      }) as WebSocket['send'];
    }
  };
}

interface Device {
  client: SyncClient;
  changes: ChangeEvent[];
  commands: CommandEvent[];
  delivered: string[];
  readonly sockets: WebSocket[];
  /** The `t` of every frame sent, in order. */
  readonly sent: string[];
  /** The `t` of every frame received, in order. */
  readonly received: string[];
  /** POST /v1/connect requests made. */
  posts: number;
}

interface Mark {
  readonly sent: number;
  readonly received: number;
}
const mark = (d: Device): Mark => ({ sent: d.sent.length, received: d.received.length });
/** Every pull `d` sent has its answer (`changes`): no pull loop is still catching up. */
const pullsAnswered = (d: Device): boolean => d.sent.filter((t) => t === 'pull').length === d.received.filter((t) => t === 'changes').length;

/**
 * Pulls sent since `m`, and how many of them the server asked for outside any sync frame: each
 * `resync` (the node may have missed pushes: a NATS stall, a storage node's heartbeat late under load)
 * and each new connection (`welcome`) starts at most one pull of the one followed collection.
 */
function pullsSince(d: Device, m: Mark): { pulls: number; explained: number } {
  const pulls = d.sent.slice(m.sent).filter((t) => t === 'pull').length;
  const explained = d.received.slice(m.received).filter((t) => t === 'resync' || t === 'welcome').length;
  if (explained > 0) console.log(`client e2e: ${explained} resync or welcome frame(s) during the window; ${pulls} pull(s)`);
  return { pulls, explained };
}

function device(userId: string, deviceId: string, opts: { cache?: Cache; autoAck?: boolean } = {}): Device {
  const sockets: WebSocket[] = [];
  const sent: string[] = [];
  const received: string[] = [];
  const client = createSyncClient({
    distributorUrl: cluster.url,
    userId,
    deviceId,
    getToken: () => devToken(cluster.url, userId),
    fetch: (input, init) => {
      if (String(input).endsWith('/v1/connect')) d.posts++;
      return fetch(input, init);
    },
    WebSocket: trackedWebSocket(sockets, sent, received),
    collections: ['bookmarks'],
    ...(opts.cache ? { cache: opts.cache } : {}),
    ...(opts.autoAck ? { autoAck: true } : {}),
  });
  cleanups.push(() => client.close());
  const d: Device = {
    posts: 0,
    client,
    changes: [],
    commands: [],
    delivered: [],
    sockets,
    sent,
    received,
  };
  client.on('change', (e) => d.changes.push(e));
  client.on('command', (e) => d.commands.push(e));
  client.on('delivered', (e) => d.delivered.push(e.commandId));
  return d;
}

const newUser = (): string => `e2e-${randomUUID()}`;
const view = (c: SyncClient): Array<[string, unknown]> => c.entries('bookmarks').map(([k, r]) => [k, r.value]);
const sorted = (rows: Array<[string, unknown]>): Array<[string, unknown]> => [...rows].sort((a, b) => a[0].localeCompare(b[0]));

describe('client e2e (real cluster)', () => {
  it('client e2e - two devices converge on adds, edits and deletes', async () => {
    const user = newUser();
    const laptop = device(user, 'laptop');
    const phone = device(user, 'phone');
    await Promise.all([laptop.client.whenConnected(), phone.client.whenConnected()]);
    expect(laptop.client.connectionId).not.toBe(phone.client.connectionId);

    await laptop.client.put('bookmarks', 'a', { title: 'A', big: 2n ** 40n }, { ifRev: 0 });
    await laptop.client.commit('bookmarks', [{ key: 'b', value: { title: 'B' } }, { key: 'c', value: { title: 'C' } }]);
    await waitFor('the phone to have a, b and c', () => phone.client.entries('bookmarks').length === 3);
    expect(phone.client.get('bookmarks', 'a')!.value).toEqual({ title: 'A', big: 2n ** 40n });

    const edit = await phone.client.put('bookmarks', 'b', { title: 'B edited on the phone' }, { ifRev: true });
    expect(edit.conflicts).toEqual([]);
    await laptop.client.delete('bookmarks', 'c', { ifRev: true });
    await waitFor('both devices to agree', () => {
      const l = sorted(view(laptop.client));
      return l.length === 2 && JSON.stringify(l, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)) ===
        JSON.stringify(sorted(view(phone.client)), (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)) && l;
    });
    expect((laptop.client.get('bookmarks', 'b')!.value as { title: string }).title).toBe('B edited on the phone');
    expect(phone.changes.some((c) => c.key === 'a' && c.origin === 'remote')).toBe(true);
  });

  it('client e2e - a small commit reaches an up-to-date device inside its sync, with no pull; a big one is pulled', async () => {
    const user = newUser();
    const laptop = device(user, 'laptop');
    const phone = device(user, 'phone');
    await Promise.all([laptop.client.whenConnected(), phone.client.whenConnected()]);
    await laptop.client.put('bookmarks', 'first', 1);
    // The connect's own pull may still be catching up (a sync that arrives meanwhile joins it): wait it out.
    await waitFor('the phone to have the first record and no pull in flight', () => phone.client.get('bookmarks', 'first') && pullsAnswered(phone));
    const phoneMark = mark(phone);

    await laptop.client.put('bookmarks', 'small', { title: 'rides in the sync' });
    await laptop.client.commit('bookmarks', [{ key: 'two', value: 2 }, { key: 'first', deleted: true }]);
    await waitFor('the phone to see both commits', () => phone.client.get('bookmarks', 'two') && phone.changes.some((c) => c.key === 'first' && c.deleted));
    expect(phone.client.get('bookmarks', 'small')!.value).toEqual({ title: 'rides in the sync' });
    const inline = pullsSince(phone, phoneMark);
    expect(inline.pulls, 'no pull for commits whose records came with their sync').toBeLessThanOrEqual(inline.explained);
    expect(phone.changes.filter((c) => c.key === 'small' || c.key === 'two').every((c) => c.origin === 'remote')).toBe(true);

    // Both ways: a device's own single-key commit moves its cursor (committed `from`), so the other's next
    // commit still comes inline.
    await waitFor('both devices to have no pull in flight', () => pullsAnswered(laptop) && pullsAnswered(phone));
    const laptopMark = mark(laptop);
    const phoneMark2 = mark(phone);
    await phone.client.put('bookmarks', 'from-phone', 1);
    await waitFor('the laptop to see the phone write', () => laptop.client.get('bookmarks', 'from-phone'));
    await laptop.client.put('bookmarks', 'from-laptop', 2);
    await waitFor('the phone to see the laptop write', () => phone.client.get('bookmarks', 'from-laptop'));
    await phone.client.put('bookmarks', 'from-phone-2', 3);
    await waitFor('the laptop to see the second phone write', () => laptop.client.get('bookmarks', 'from-phone-2'));
    const laptopPulls = pullsSince(laptop, laptopMark);
    expect(laptopPulls.pulls, 'the laptop pulled nothing').toBeLessThanOrEqual(laptopPulls.explained);
    const phonePulls = pullsSince(phone, phoneMark2);
    expect(phonePulls.pulls, 'the phone pulled nothing').toBeLessThanOrEqual(phonePulls.explained);

    // Over INLINE_SYNC_MAX_BYTES: the sync names the rev only, and the phone pulls.
    const bigMark = mark(phone);
    await laptop.client.put('bookmarks', 'big', 'x'.repeat(INLINE_SYNC_MAX_BYTES + 1));
    await waitFor('the phone to pull the big record', () => phone.client.get('bookmarks', 'big'));
    const big = pullsSince(phone, bigMark);
    expect(big.pulls, 'one pull for the big record').toBeGreaterThanOrEqual(1);
    expect(big.pulls, 'one pull for the big record').toBeLessThanOrEqual(1 + big.explained);
  });

  it('client e2e - a stale write comes back as a conflict with the server state', async () => {
    const user = newUser();
    const laptop = device(user, 'laptop');
    await laptop.client.whenConnected();
    const first = await laptop.client.put('bookmarks', 'k', 'v1');
    await laptop.client.put('bookmarks', 'k', 'v2');
    const stale = await laptop.client.put('bookmarks', 'k', 'from an old view', { ifRev: first.rev });
    expect(stale.conflicts).toEqual([expect.objectContaining({ key: 'k', value: 'v2' })]);
    expect(laptop.client.get('bookmarks', 'k')!.value).toBe('v2');
  });

  it('client e2e - reconnects after its socket drops and catches up on what it missed', async () => {
    const user = newUser();
    const laptop = device(user, 'laptop');
    const phone = device(user, 'phone');
    await Promise.all([laptop.client.whenConnected(), phone.client.whenConnected()]);
    const firstNode = phone.client.node;
    phone.sockets.at(-1)!.terminate();
    await waitFor('the phone to notice', () => phone.client.status !== 'connected');
    await laptop.client.put('bookmarks', 'while-away', { title: 'written while the phone was cut off' });
    await phone.client.whenConnected(20_000);
    await waitFor('the phone to catch up', () => phone.client.get('bookmarks', 'while-away'));
    expect(phone.sockets.length).toBe(2);
    // A drop without a close frame (1006) counts as a failed node: the next connect excludes it
    // (docs/protocol.md 2.2), so the phone lands on another live node although the set did not change.
    expect(phone.client.node).toBeDefined();
    expect(phone.client.node).not.toBe(firstNode);
  });

  it('client e2e - an offline device catches up from its cursor, not from scratch', async () => {
    const user = newUser();
    const laptop = device(user, 'laptop');
    const cache = memoryCache();
    const phoneBefore = device(user, 'phone', { cache });
    await Promise.all([laptop.client.whenConnected(), phoneBefore.client.whenConnected()]);
    await laptop.client.put('bookmarks', 'old-1', 1);
    await laptop.client.put('bookmarks', 'old-2', 2);
    await waitFor('the phone to have the old records', () => phoneBefore.client.entries('bookmarks').length === 2);
    await phoneBefore.client.close();
    const cursor = cache.cursor('bookmarks');
    expect(cursor).toBeGreaterThan(0);

    await laptop.client.put('bookmarks', 'new-1', 3);
    await laptop.client.delete('bookmarks', 'old-1');
    const phoneAfter = device(user, 'phone', { cache });
    await waitFor('the phone to catch up', () => phoneAfter.client.get('bookmarks', 'new-1') && !phoneAfter.client.get('bookmarks', 'old-1'));
    expect(phoneAfter.changes.map((c) => [c.key, c.deleted]).sort()).toEqual([['new-1', false], ['old-1', true]]);
    expect(cache.cursor('bookmarks')).toBeGreaterThan(cursor);
  });

  it('client e2e - a command for an offline device is delivered when it connects', async () => {
    const user = newUser();
    const laptop = device(user, 'laptop');
    await laptop.client.whenConnected();
    // The tablet connected once before (commands go only to known devices), and is offline now.
    const before = device(user, 'tablet');
    await before.client.put('hello', 'tablet', 1);
    await before.client.close();
    const { commandId } = await laptop.client.send('tablet', { url: 'https://example.com/read-later' });
    const tablet = device(user, 'tablet');
    const command = await waitFor('the command', () => tablet.commands[0], 20_000);
    expect(command).toMatchObject({ commandId, fromDevice: 'laptop', body: { url: 'https://example.com/read-later' } });
    command.ack();
    await waitFor('delivered at the sender', () => laptop.delivered.includes(commandId), 20_000);
  });

  it('client e2e - kill -9 of a socket node: its clients move to a live node and converge', async () => {
    const user = newUser();
    const laptop = device(user, 'laptop');
    const phone = device(user, 'phone');
    await Promise.all([laptop.client.whenConnected(), phone.client.whenConnected()]);
    const victimNode = phone.client.node;
    const victim = cluster.state.processes.find((p) => p.node === victimNode || p.name === victimNode);
    expect(victim, `a process for node ${victimNode}`).toBeDefined();
    const posts = phone.posts;
    process.kill(victim!.pid, 'SIGKILL');
    await waitFor('the phone to notice', () => phone.client.status !== 'connected', 20_000);
    const written = laptop.client.put('bookmarks', 'after-kill', { title: 'after the kill' });
    await phone.client.whenConnected(20_000);
    // Straight to the other node with the fallback ticket of its welcome: no POST /v1/connect.
    expect(phone.client.node).not.toBe(victimNode);
    expect(phone.posts - posts).toBe(0);
    await written;
    await waitFor('the phone to converge', () => phone.client.get('bookmarks', 'after-kill'), 20_000);
    await phone.client.put('bookmarks', 'from-phone', { title: 'written on the new node' });
    await waitFor('the laptop to converge', () => laptop.client.get('bookmarks', 'from-phone'), 20_000);
  });
});
