/**
 * The client's behaviour against a stand-in distributor and socket server (fake-cluster.ts): real HTTP,
 * real WebSockets, MessagePack from another library. Covers what the real cluster cannot be made to do
 * on demand: 401 then refresh, 503 with Retry-After, refused upgrades, missing welcome, terminal close codes.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import WebSocket from 'ws';
import { createSyncClient } from '../../client/client.js';
import { readFallback } from '../../client/transport.js';
import { AuthError, ConnectionLostError, OfflineError, QueueFullError, RequestTimeoutError, ServerError, type SyncError } from '../../client/errors.js';
import type { ChangeEvent, CommandEvent, ConflictEvent, StatusEvent, SyncClient, SyncClientOptions } from '../../client/types.js';
import { FakeCluster, waitFor, type FakeClusterOptions } from './fake-cluster.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

async function fakeCluster(opts: FakeClusterOptions = {}): Promise<FakeCluster> {
  const fake = await FakeCluster.start(opts);
  cleanups.push(() => fake[Symbol.asyncDispose]());
  return fake;
}

interface Recorded {
  client: SyncClient;
  status: StatusEvent[];
  changes: ChangeEvent[];
  conflicts: ConflictEvent[];
  commands: CommandEvent[];
  delivered: string[];
  errors: SyncError[];
}

function device(fake: FakeCluster, deviceId: string, opts: Partial<SyncClientOptions> = {}): Recorded {
  const client = createSyncClient({
    distributorUrl: fake.url,
    userId: 'u1',
    deviceId,
    token: 'good-token',
    WebSocket,
    backoff: { minMs: 10, maxMs: 40 },
    ...opts,
  });
  cleanups.push(() => client.close());
  const r: Recorded = { client, status: [], changes: [], conflicts: [], commands: [], delivered: [], errors: [] };
  client.on('status', (e) => r.status.push(e));
  client.on('change', (e) => r.changes.push(e));
  client.on('conflict', (e) => r.conflicts.push(e));
  client.on('command', (e) => r.commands.push(e));
  client.on('delivered', (e) => r.delivered.push(e.commandId));
  client.on('error', (e) => r.errors.push(e));
  return r;
}

const title = (c: SyncClient, key: string): unknown => (c.get('bookmarks', key)?.value as { title?: string } | undefined)?.title;

describe('client - connection', () => {
  it('client - connects through the distributor with a Bearer token and reports connection id and node', async () => {
    const fake = await fakeCluster();
    const laptop = device(fake, 'laptop');
    await laptop.client.whenConnected();
    expect(fake.connects).toEqual([expect.objectContaining({ token: 'good-token', userId: 'u1', deviceId: 'laptop' })]);
    expect(laptop.client.connectionId).toBe('u1/laptop');
    expect(laptop.client.node).toBe(fake.session('laptop')!.node);
    expect(laptop.status.at(-1)).toMatchObject({ status: 'connected', connectionId: 'u1/laptop', node: 'fake-1' });
  });

  it('client - reconnects through the distributor after the socket drops and pulls what it missed', async () => {
    const fake = await fakeCluster();
    const laptop = device(fake, 'laptop', { collections: ['bookmarks'] });
    await laptop.client.whenConnected();
    await fake.session('laptop')!.kill();
    fake.storeDirect('u1', 'bookmarks', 'b1', { title: 'written while away' });
    await waitFor('the missed record', () => title(laptop.client, 'b1') === 'written while away');
    expect(fake.connects.length).toBe(2);
    expect(laptop.status.map((s) => s.status)).toContain('reconnecting');
    expect(laptop.client.node).toBe('fake-2');
  });

  it('client - a refused upgrade (401 ticket) is retried with a fresh ticket from the distributor', async () => {
    const fake = await fakeCluster();
    fake.refuseUpgrades = 2;
    const laptop = device(fake, 'laptop');
    await laptop.client.whenConnected();
    expect(fake.connects.length).toBe(3);
    expect(laptop.status.some((s) => s.status === 'reconnecting' && /401/.test(s.reason ?? ''))).toBe(true);
  });

  it('client - a refused socket makes the next connects exclude that node until avoidFailedNodeMs passed', async () => {
    const fake = await fakeCluster();
    fake.refuseUpgrades = 1;
    const laptop = device(fake, 'laptop', { avoidFailedNodeMs: 1_500 });
    await laptop.client.whenConnected();
    expect(fake.connects.map((c) => c.exclude)).toEqual([undefined, ['node-a']]);
    // A close the server chose (not abnormal, after the welcome) is no reason to avoid the node.
    await fake.session('laptop')!.close(4000, 'restart');
    await waitFor('the reconnect', () => fake.connects.length === 3 && laptop.client.status === 'connected');
    expect(fake.connects[2]!.exclude).toEqual(['node-a']);
    // Once avoidFailedNodeMs passed the node is forgotten.
    await waitFor('node-a to be forgotten', () => Date.now() - fake.connects[1]!.at > 1_600 || undefined);
    await fake.session('laptop')!.close(4000, 'restart');
    await waitFor('another reconnect', () => fake.connects.length === 4 && laptop.client.status === 'connected');
    expect(fake.connects[3]!.exclude).toBeUndefined();
  });

  it('client - an abnormal drop (1006) retries within ~250 ms, not after the backoff, excluding the dropped node', async () => {
    const fake = await fakeCluster();
    // A backoff this long would show: only the fast first retry can reconnect in time.
    const laptop = device(fake, 'laptop', { backoff: { minMs: 20_000, maxMs: 20_000, jitter: 'none' } });
    await laptop.client.whenConnected();
    const killedAt = Date.now();
    await fake.session('laptop')!.kill();
    await waitFor('the reconnect', () => fake.connects.length === 2 && laptop.client.status === 'connected');
    expect(fake.connects[1]!.at - killedAt).toBeLessThan(2_000);
    expect(fake.connects[1]!.exclude).toEqual(['node-a']);
    expect(laptop.status.find((s) => s.retryInMs !== undefined)?.retryInMs).toBeLessThanOrEqual(250);
    // A second drop soon after is not fast: the node keeps dropping, the backoff applies.
    await fake.session('laptop')!.kill();
    await waitFor('a reconnect wait', () => laptop.status.filter((s) => s.retryInMs !== undefined).length === 2);
    expect(laptop.status.filter((s) => s.retryInMs !== undefined)[1]!.retryInMs).toBe(20_000);
    // Both nodes failed recently: both are excluded (the distributor ignores an exclusion of all).
    laptop.client.reconnect();
    await waitFor('the third connect', () => fake.connects.length === 3 && laptop.client.status === 'connected');
    expect(fake.connects[2]!.exclude).toEqual(['node-a', 'node-b']);
  });

  it('client - a lost connection moves to the fallback of its welcome without asking the distributor, once', async () => {
    const fake = await fakeCluster();
    fake.fallbackNode = 'node-fb';
    const laptop = device(fake, 'laptop');
    await laptop.client.whenConnected();
    // The next welcome (on node-fb) offers another node, as a real one would (never itself).
    fake.fallbackNode = 'node-fb2';
    await fake.session('laptop')!.kill();
    await waitFor('the reconnect', () => fake.sessions.length === 2 && laptop.client.status === 'connected');
    expect(fake.connects).toHaveLength(1);
    expect(fake.fallbackUpgrades).toBe(1);
    // It told the fallback node which node it lost, so that its next offer avoids it.
    expect(fake.upgradeExcludes).toEqual([null, 'node-a']);
    // Its first retry was drawn from 100-1000 ms (with an offer nothing else spreads a dead node's clients).
    const wait = laptop.status.find((st) => st.retryInMs !== undefined)?.retryInMs;
    expect(wait).toBeGreaterThanOrEqual(100);
    expect(wait).toBeLessThanOrEqual(1000);
    // The new welcome offered another fallback: used for the next loss too.
    await fake.session('laptop')!.kill();
    await waitFor('the second reconnect', () => fake.sessions.length === 3 && laptop.client.status === 'connected');
    expect([fake.connects.length, fake.fallbackUpgrades]).toEqual([1, 2]);
    // No offer in the last welcome: the distributor again.
    fake.fallbackNode = undefined;
    await fake.session('laptop')!.close(4000, 'restart');
    await waitFor('a welcome without an offer', () => fake.sessions.length === 4 && laptop.client.status === 'connected');
    await fake.session('laptop')!.close(4000, 'restart');
    await waitFor('a reconnect through the distributor', () => fake.sessions.length === 5 && laptop.client.status === 'connected');
    expect([fake.connects.length, fake.fallbackUpgrades]).toEqual([2, 3]);
  });

  it("client - the first retry after an abnormal drop waits up to the offer's spreadMs; a spread that is no number is ignored", async () => {
    const fake = await fakeCluster();
    fake.fallbackNode = 'node-fb';
    fake.fallbackSpreadMs = 3_000;
    // Every connection counts as stable, so each abnormal drop gets the quick first retry.
    const laptop = device(fake, 'laptop', { stableAfterMs: 0 });
    await laptop.client.whenConnected();
    // The draw at its top: the wait is the offer's spread (3,000 ms), not the client's own second.
    const random = vi.spyOn(Math, 'random').mockReturnValue(0.9999);
    try {
      await fake.session('laptop')!.kill();
      await waitFor('the retry to be scheduled', () => laptop.status.some((st) => st.retryInMs !== undefined));
    } finally {
      random.mockRestore();
    }
    expect(laptop.status.find((st) => st.retryInMs !== undefined)!.retryInMs).toBe(3_000);
    await waitFor('the reconnect on the fallback node', () => fake.sessions.length === 2 && laptop.client.status === 'connected', 10_000);
    expect(fake.fallbackUpgrades).toBe(1);
    // A welcome whose spread is not a positive number: the client's own 100-1000 ms.
    for (const bad of ['3000', -5, Number.NaN]) {
      fake.fallbackSpreadMs = bad;
      await fake.session('laptop')!.close(4000, 'restart');
      await waitFor('a fresh welcome', () => laptop.client.status === 'connected' && fake.sessions.length === fake.fallbackUpgrades + fake.connects.length);
      const seen = laptop.status.length;
      const top = vi.spyOn(Math, 'random').mockReturnValue(0.9999);
      try {
        await fake.session('laptop')!.kill();
        await waitFor('the retry to be scheduled', () => laptop.status.slice(seen).some((st) => st.retryInMs !== undefined));
      } finally {
        top.mockRestore();
      }
      expect(laptop.status.slice(seen).find((st) => st.retryInMs !== undefined)!.retryInMs).toBe(1_000);
      await waitFor('the reconnect', () => laptop.client.status === 'connected' && fake.sessions.length === fake.fallbackUpgrades + fake.connects.length);
    }
    // A spread past two minutes is capped there; a fractional one is whole milliseconds.
    const offer = { node: 'n', socket: { host: 'h', port: 1, url: 'ws://h:1/ws' }, ticket: 't', expiresAt: Date.now() + 60_000 };
    expect(readFallback({ ...offer, spreadMs: 1e12 }, 'c')?.spreadMs).toBe(120_000);
    expect(readFallback({ ...offer, spreadMs: 1500.7 }, 'c')?.spreadMs).toBe(1500);
    expect(readFallback(offer, 'c')).not.toHaveProperty('spreadMs');
  });

  it('client - a refused fallback ticket goes to the distributor, excluding that node', async () => {
    const fake = await fakeCluster();
    fake.fallbackNode = 'node-fb';
    const laptop = device(fake, 'laptop');
    await laptop.client.whenConnected();
    fake.refuseUpgrades = 1;
    await fake.session('laptop')!.kill();
    await waitFor('the reconnect', () => fake.sessions.length === 2 && laptop.client.status === 'connected');
    expect(fake.fallbackUpgrades).toBe(0);
    expect(fake.connects).toHaveLength(2);
    expect(fake.connects[1]!.exclude).toEqual(['node-a', 'node-fb']);
  });

  it('client - a fallback frame replaces the offer; one without an offer, an expiring offer, or useFallback false mean the distributor', async () => {
    const fake = await fakeCluster();
    fake.fallbackNode = 'node-fb';
    const laptop = device(fake, 'laptop');
    await laptop.client.whenConnected();
    // Withdrawn by the server: the next loss goes to the distributor.
    fake.session('laptop')!.send({ t: 'fallback' });
    await fake.session('laptop')!.close(4000, 'restart');
    await waitFor('the reconnect', () => fake.sessions.length === 2 && laptop.client.status === 'connected');
    expect([fake.connects.length, fake.fallbackUpgrades]).toEqual([2, 0]);
    // Replaced by a frame: that offer is the one used.
    fake.fallbackNode = 'node-other';
    const offer = fake.fallbackOffer(fake.session('laptop')!);
    fake.fallbackNode = undefined;
    fake.session('laptop')!.send({ t: 'fallback', fallback: offer });
    await fake.session('laptop')!.close(4000, 'restart');
    await waitFor('the reconnect with the new offer', () => fake.sessions.length === 3 && laptop.client.status === 'connected');
    expect([fake.connects.length, fake.fallbackUpgrades]).toEqual([2, 1]);
    // An offer about to expire is not tried.
    fake.fallbackNode = 'node-fb';
    fake.fallbackTtlMs = 1_000;
    await fake.session('laptop')!.close(4000, 'restart');
    await waitFor('a reconnect', () => fake.sessions.length === 4 && laptop.client.status === 'connected');
    expect([fake.connects.length, fake.fallbackUpgrades]).toEqual([3, 1]);
    await fake.session('laptop')!.close(4000, 'restart');
    await waitFor('a reconnect', () => fake.sessions.length === 5 && laptop.client.status === 'connected');
    expect([fake.connects.length, fake.fallbackUpgrades]).toEqual([4, 1]);
    // Turned off by the application.
    fake.fallbackTtlMs = 3_600_000;
    const phone = device(fake, 'phone', { useFallback: false });
    await phone.client.whenConnected();
    const before = fake.connects.length;
    await fake.session('phone')!.kill();
    await waitFor('the phone back', () => fake.sessions.filter((s) => s.deviceId === 'phone').length === 2 && phone.client.status === 'connected');
    expect([fake.connects.length - before, fake.fallbackUpgrades]).toEqual([1, 1]);
  });

  it('client - no exclude from a distributor that names no node', async () => {
    const fake = await fakeCluster();
    fake.allocNodes = [];
    fake.refuseUpgrades = 1;
    const laptop = device(fake, 'laptop');
    await laptop.client.whenConnected();
    expect(fake.connects.map((c) => c.exclude)).toEqual([undefined, undefined]);
  });

  it('client - a server that never says welcome is left after welcomeTimeoutMs and tried again', async () => {
    const fake = await fakeCluster();
    fake.sendWelcome = false;
    const laptop = device(fake, 'laptop', { welcomeTimeoutMs: 200 });
    await waitFor('a second attempt', () => fake.connects.length >= 2);
    fake.sendWelcome = true;
    await laptop.client.whenConnected();
    expect(laptop.status.some((s) => /welcome/.test(s.reason ?? ''))).toBe(true);
  });

  it('client - 401 from the distributor refreshes the token once and then connects', async () => {
    const fake = await fakeCluster();
    const tokens = ['stale-token', 'good-fresh'];
    let calls = 0;
    const laptop = device(fake, 'laptop', { token: undefined, getToken: async () => tokens[calls++] ?? 'none' });
    await laptop.client.whenConnected();
    expect(calls).toBe(2);
    expect(fake.connects.map((c) => c.token)).toEqual(['stale-token', 'good-fresh']);
  });

  it('client - a token refused twice emits AuthError and goes offline without retrying', async () => {
    const fake = await fakeCluster();
    let calls = 0;
    const laptop = device(fake, 'laptop', { token: undefined, getToken: async () => `bad-${++calls}` });
    await expect(laptop.client.whenConnected()).rejects.toBeInstanceOf(OfflineError);
    expect(calls).toBe(2);
    expect(laptop.errors[0]).toBeInstanceOf(AuthError);
    expect(laptop.errors[0]!.message).toMatch(/sign in again/);
    expect(laptop.client.status).toBe('offline');
    expect(fake.connects.length).toBe(2);
  });

  it('client - 503 with Retry-After waits that long before asking again', async () => {
    const fake = await fakeCluster();
    fake.connectReplies.push({ status: 503, headers: { 'retry-after': '1' }, body: { error: { code: 'unavailable', message: 'no live socket server' } } });
    const laptop = device(fake, 'laptop');
    await laptop.client.whenConnected();
    expect(fake.connects.length).toBe(2);
    expect(fake.connects[1]!.at - fake.connects[0]!.at).toBeGreaterThanOrEqual(990);
    expect(laptop.status.find((s) => s.retryInMs !== undefined)!.retryInMs).toBeGreaterThanOrEqual(1000);
  });

  it('client - 403 from the distributor is terminal: offline with a clear error', async () => {
    const fake = await fakeCluster();
    fake.connectReplies.push({ status: 403, body: { error: { code: 'forbidden', message: 'userId differs from the token subject' } } });
    const laptop = device(fake, 'laptop');
    await expect(laptop.client.whenConnected()).rejects.toThrow(/offline/);
    expect(laptop.errors[0]!.message).toMatch(/token subject/);
  });

  it('client - close code replaced (4100) stops the client instead of fighting the other session', async () => {
    const fake = await fakeCluster();
    const laptop = device(fake, 'laptop');
    await laptop.client.whenConnected();
    await fake.session('laptop')!.close(4100, 'replaced by a newer connection of this device: do not reconnect');
    await waitFor('offline', () => laptop.client.status === 'offline');
    expect(laptop.errors[0]).toBeInstanceOf(OfflineError);
    expect(laptop.errors[0]!.message).toMatch(/replaced/);
    await expect(laptop.client.send('phone', 'x')).rejects.toBeInstanceOf(OfflineError);
    // A write is kept while stopped (offline-first) and sent once the application reconnects.
    const queued = laptop.client.put('bookmarks', 'k', 1);
    expect(laptop.client.pendingWrites).toBe(1);
    expect(laptop.client.get('bookmarks', 'k')).toEqual({ value: 1, rev: 0, deleted: false, pending: true });
    // A negative can only be observed over time: with a 10-40 ms backoff, a looping client would have
    // asked the distributor several times in this window.
    await new Promise((r) => setTimeout(r, 300));
    expect(fake.connects.length).toBe(1);
    laptop.client.reconnect();
    await laptop.client.whenConnected();
    expect(fake.connects.length).toBe(2);
    expect((await queued).rev).toBe(1);
    expect(laptop.client.pendingWrites).toBe(0);
    expect(laptop.client.get('bookmarks', 'k')).toEqual({ value: 1, rev: 1, deleted: false });
  });

  it('client - drain: waits retryAfterMs, holds new requests, then moves to a new connection', async () => {
    const fake = await fakeCluster();
    const laptop = device(fake, 'laptop');
    await laptop.client.whenConnected();
    const first = fake.session('laptop')!;
    const drainedAt = Date.now();
    first.send({ t: 'drain', retryAfterMs: 400 });
    await waitFor('status reconnecting', () => laptop.client.status !== 'connected');
    const put = laptop.client.put('bookmarks', 'k', { title: 'during drain' });
    await first.close(4000, 'draining');
    const { rev } = await put;
    expect(rev).toBeGreaterThan(0);
    expect(Date.now() - drainedAt).toBeGreaterThanOrEqual(390);
    expect(fake.connects.length).toBe(2);
    expect(first.frames.some((f) => f.t === 'commit')).toBe(false);
    expect(fake.session('laptop')!.frames.some((f) => f.t === 'commit')).toBe(true);
  });

  it('client - close() ends the connection and fails waiting requests with OfflineError', async () => {
    const fake = await fakeCluster();
    const laptop = device(fake, 'laptop');
    await laptop.client.whenConnected();
    fake.answerRequests = false;
    const pending = expect(laptop.client.put('bookmarks', 'k', 1)).rejects.toBeInstanceOf(OfflineError);
    await waitFor('the commit at the server', () => fake.session('laptop')!.frames.some((f) => f.t === 'commit'));
    await laptop.client.close();
    await pending;
    await fake.session('laptop')!.closed;
    expect(laptop.client.status).toBe('offline');
  });
});

describe('client - requests', () => {
  it('client - a request in flight when the connection drops fails with ConnectionLostError', async () => {
    const fake = await fakeCluster();
    const laptop = device(fake, 'laptop');
    await laptop.client.whenConnected();
    fake.answerRequests = false;
    const pending = expect(laptop.client.send('phone', { url: 'https://example.com' })).rejects.toBeInstanceOf(ConnectionLostError);
    await waitFor('the send at the server', () => fake.session('laptop')!.frames.some((f) => f.t === 'send'));
    await fake.session('laptop')!.kill();
    await pending;
  });

  it('client - requests made while disconnected wait for the connection, in order', async () => {
    const fake = await fakeCluster();
    fake.connectReplies.push({ status: 503, headers: { 'retry-after': '0.3' } });
    const laptop = device(fake, 'laptop');
    const results = await Promise.all([1, 2, 3].map((n) => laptop.client.put('bookmarks', `k${n}`, { title: `t${n}` })));
    expect(results.map((r) => r.rev)).toEqual([1, 2, 3]);
    expect(laptop.client.entries('bookmarks').map(([k]) => k)).toEqual(['k1', 'k2', 'k3']);
  });

  it('client - the wait queue is bounded and its requests time out with a clear error', async () => {
    const fake = await fakeCluster();
    fake.connectReplies.push({ status: 503, headers: { 'retry-after': '30' } });
    const laptop = device(fake, 'laptop', { maxQueued: 2, queueTimeoutMs: 300, maxPendingWrites: 2 });
    const queued = [laptop.client.send('phone', 1), laptop.client.send('phone', 2)];
    await expect(laptop.client.send('phone', 3)).rejects.toBeInstanceOf(QueueFullError);
    for (const q of queued) await expect(q).rejects.toThrow(/waited 300 ms for a connection/);
    // Writes have their own bound (they wait as long as it takes, in the outbox).
    void laptop.client.put('c', 'a', 1);
    void laptop.client.put('c', 'b', 2);
    await expect(laptop.client.put('c', 'x', 3)).rejects.toBeInstanceOf(QueueFullError);
    expect(laptop.client.pendingWrites).toBe(2);
    expect(laptop.client.get('c', 'x')).toBeUndefined();
  });

  it('client - a request with no answer times out and the connection is replaced', async () => {
    const fake = await fakeCluster();
    const laptop = device(fake, 'laptop', { requestTimeoutMs: 300 });
    await laptop.client.whenConnected();
    fake.answerRequests = false;
    await expect(laptop.client.send('phone', 1)).rejects.toBeInstanceOf(RequestTimeoutError);
    fake.answerRequests = true;
    await waitFor('a new connection', () => fake.connects.length === 2 && laptop.client.status === 'connected');
  });

  it('client - a write whose answer was lost is sent again with the same txid and applied once', async () => {
    const fake = await fakeCluster();
    const laptop = device(fake, 'laptop');
    await laptop.client.whenConnected();
    fake.loseNextCommitAnswer = true;
    const { rev } = await laptop.client.put('c', 'k', 'once');
    const commits = fake.sessions.flatMap((s) => s.frames.filter((f) => f.t === 'commit'));
    expect(commits.length).toBe(2);
    expect(typeof commits[0]!.txid).toBe('string');
    expect(commits[1]!.txid).toBe(commits[0]!.txid);
    expect(fake.commitsApplied).toBe(1);
    expect(rev).toBe(1);
    expect(laptop.client.get('c', 'k')).toEqual({ value: 'once', rev: 1, deleted: false });
  });

  it('client - an error frame rejects its request with ServerError and the server code', async () => {
    const fake = await fakeCluster();
    const laptop = device(fake, 'laptop');
    await laptop.client.whenConnected();
    fake.errorFor = { t: 'commit', code: 'too_large', message: 'the values of this commit are too large; split it' };
    const err = await laptop.client.put('c', 'k', 'x').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ServerError);
    expect(err).toMatchObject({ code: 'too_large', message: 'the values of this commit are too large; split it' });
    // An error frame answering no request still reaches the application.
    fake.session('laptop')!.send({ t: 'error', code: 'bad_frame', message: 'unknown frame type' });
    await waitFor('the error event', () => laptop.errors.find((e) => e instanceof ServerError && e.code === 'bad_frame'));
  });
});

describe('client - pacing', () => {
  it('client - a rate_limited answer is retried after a pause, then succeeds', async () => {
    const fake = await fakeCluster();
    const laptop = device(fake, 'laptop');
    await laptop.client.whenConnected();
    fake.rateLimitNext = 2;
    const started = Date.now();
    const { rev } = await laptop.client.put('c', 'k', 'v');
    expect(rev).toBe(1);
    expect(fake.session('laptop')!.frames.filter((f) => f.t === 'commit').length).toBe(3);
    expect(Date.now() - started).toBeGreaterThanOrEqual(600); // pauses of 400 and 800 ms, jittered down by up to half
    expect(laptop.errors).toEqual([]);
  });

  it('client - rate_limited without end reaches the caller as ServerError', async () => {
    const fake = await fakeCluster();
    const laptop = device(fake, 'laptop');
    await laptop.client.whenConnected();
    fake.rateLimitNext = 100;
    const err = await laptop.client.send('phone', 'v').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ServerError);
    expect(err).toMatchObject({ code: 'rate_limited' });
    expect(fake.session('laptop')!.frames.filter((f) => f.t === 'send').length).toBe(4);
  });

  it('client - at most maxInFlight requests await answers; the rest wait their turn', async () => {
    const fake = await fakeCluster();
    const laptop = device(fake, 'laptop', { maxInFlight: 3 });
    await laptop.client.whenConnected();
    fake.answerRequests = false;
    const puts = [1, 2, 3, 4, 5].map((n) => laptop.client.send('phone', n).catch((e: unknown) => e));
    await waitFor('three sends at the server', () => fake.session('laptop')!.frames.filter((f) => f.t === 'send').length === 3);
    // Observing that no fourth frame follows needs a short window.
    await new Promise((r) => setTimeout(r, 200));
    expect(fake.session('laptop')!.frames.filter((f) => f.t === 'send').length).toBe(3);
    await laptop.client.close();
    expect((await Promise.all(puts)).every((e) => e instanceof OfflineError)).toBe(true);
  });

  it('client - frames are paced by the token bucket', async () => {
    const fake = await fakeCluster();
    const laptop = device(fake, 'laptop', { rateLimit: { perSec: 20, burst: 5 } });
    await laptop.client.whenConnected();
    const started = Date.now();
    await Promise.all(Array.from({ length: 15 }, (_, i) => laptop.client.put('c', `k${i}`, i)));
    // 5 at once, then 10 more at 20/s (the welcome-time pulls took none: no known collections).
    expect(Date.now() - started).toBeGreaterThanOrEqual(450);
  });
});

describe('client - sync', () => {
  it('client - a commit on one device reaches the other through sync and pull', async () => {
    const fake = await fakeCluster();
    const laptop = device(fake, 'laptop', { collections: ['bookmarks'] });
    const phone = device(fake, 'phone', { collections: ['bookmarks'] });
    await Promise.all([laptop.client.whenConnected(), phone.client.whenConnected()]);
    const { rev } = await laptop.client.put('bookmarks', 'b1', { title: 'Syncmesh', big: 2n ** 40n });
    // At once (pending, the server's rev not known yet), then settled with the commit's rev.
    expect(laptop.changes).toEqual([
      { collection: 'bookmarks', key: 'b1', value: { title: 'Syncmesh', big: 2n ** 40n }, deleted: false, rev: 0, origin: 'local', pending: true },
      { collection: 'bookmarks', key: 'b1', value: { title: 'Syncmesh', big: 2n ** 40n }, deleted: false, rev, origin: 'local' },
    ]);
    await waitFor('the phone to see it', () => phone.changes.length === 1);
    expect(phone.changes[0]).toEqual({ collection: 'bookmarks', key: 'b1', value: { title: 'Syncmesh', big: 2n ** 40n }, deleted: false, rev, origin: 'remote' });
    await laptop.client.delete('bookmarks', 'b1');
    await waitFor('the phone to see the delete', () => phone.client.get('bookmarks', 'b1') === undefined);
    expect(phone.changes.at(-1)).toMatchObject({ key: 'b1', deleted: true, origin: 'remote' });
    expect(phone.client.entries('bookmarks')).toEqual([]);
  });

  it('client - pulls follow more until caught up and concurrent syncs share one loop', async () => {
    const fake = await fakeCluster({ pageSize: 2 });
    for (let i = 0; i < 7; i++) fake.storeDirect('u1', 'notes', `n${i}`, i);
    const laptop = device(fake, 'laptop');
    await laptop.client.whenConnected();
    await Promise.all([laptop.client.sync('notes'), laptop.client.sync('notes'), laptop.client.sync('notes')]);
    expect(laptop.client.entries('notes').map(([, r]) => r.value)).toEqual([0, 1, 2, 3, 4, 5, 6]);
    const pulls = fake.pulls.filter((p) => p.collection === 'notes');
    // One loop of 4 pages (2+2+2+1), plus at most one more pass for the calls that joined it.
    expect(pulls.slice(0, 4).map((p) => p.since)).toEqual([0, 2, 4, 6]);
    expect(pulls.length).toBeLessThanOrEqual(5);
  });

  it('client - a stale ifRev comes back as a conflict and the cache takes the server state', async () => {
    const fake = await fakeCluster();
    const laptop = device(fake, 'laptop', { collections: ['bookmarks'] });
    const phone = device(fake, 'phone', { collections: ['bookmarks'] });
    await Promise.all([laptop.client.whenConnected(), phone.client.whenConnected()]);
    await laptop.client.put('bookmarks', 'b', { title: 'v1' }, { ifRev: 0 });
    await waitFor('phone has v1', () => title(phone.client, 'b') === 'v1');
    // The laptop writes v2; the phone, not yet synced, writes from v1.
    const phoneRev = phone.client.get('bookmarks', 'b')!.rev;
    await laptop.client.put('bookmarks', 'b', { title: 'v2 laptop' }, { ifRev: true });
    const result = await phone.client.put('bookmarks', 'b', { title: 'v2 phone' }, { ifRev: phoneRev });
    expect(result.conflicts).toEqual([expect.objectContaining({ key: 'b', value: { title: 'v2 laptop' } })]);
    expect(phone.conflicts).toEqual([expect.objectContaining({ collection: 'bookmarks', key: 'b', attempted: { key: 'b', value: { title: 'v2 phone' }, base: phoneRev } })]);
    expect(title(phone.client, 'b')).toBe('v2 laptop');
    expect(title(laptop.client, 'b')).toBe('v2 laptop');
  });

  it('client - a commit of several keys learns each key\'s own rev, so ifRev: true works after it', async () => {
    const fake = await fakeCluster();
    const laptop = device(fake, 'laptop');
    await laptop.client.whenConnected();
    const { rev } = await laptop.client.commit('bookmarks', [
      { key: 'a', value: { title: 'A' } },
      { key: 'b', value: { title: 'B' } },
      { key: 'c', value: { title: 'C' } },
    ]);
    expect(rev).toBe(3);
    expect(['a', 'b', 'c'].map((k) => laptop.client.get('bookmarks', k)?.rev)).toEqual([1, 2, 3]);
    expect(laptop.changes.map((c) => [c.key, c.rev, c.origin, c.pending === true])).toEqual([
      ['a', 0, 'local', true], ['b', 0, 'local', true], ['c', 0, 'local', true],
      ['a', 1, 'local', false], ['b', 2, 'local', false], ['c', 3, 'local', false],
    ]);
    const again = await laptop.client.put('bookmarks', 'a', { title: 'A2' }, { ifRev: true });
    expect(again.conflicts).toEqual([]);
    expect(title(laptop.client, 'a')).toBe('A2');
  });
});

describe('client - commands', () => {
  it('client - send reaches the other device, its ack comes back as delivered', async () => {
    const fake = await fakeCluster();
    const laptop = device(fake, 'laptop');
    const phone = device(fake, 'phone');
    await Promise.all([laptop.client.whenConnected(), phone.client.whenConnected()]);
    const { commandId } = await laptop.client.send('phone', { url: 'https://example.com' });
    const cmd = await waitFor('the command', () => phone.commands[0]);
    expect(cmd).toMatchObject({ commandId, fromDevice: 'laptop', body: { url: 'https://example.com' } });
    cmd.ack();
    await waitFor('delivered', () => laptop.delivered.includes(commandId));
  });

  it('client - a command for an offline device arrives when it connects; autoAck acks it', async () => {
    const fake = await fakeCluster();
    const laptop = device(fake, 'laptop');
    await laptop.client.whenConnected();
    const { commandId } = await laptop.client.send('phone', 'open this');
    const phone = device(fake, 'phone', { autoAck: true });
    await waitFor('the command', () => phone.commands.length === 1);
    await waitFor('delivered', () => laptop.delivered.includes(commandId));
  });

  it('client - a redelivered command already acked is acked again, not shown twice', async () => {
    const fake = await fakeCluster();
    const laptop = device(fake, 'laptop');
    const phone = device(fake, 'phone');
    await Promise.all([laptop.client.whenConnected(), phone.client.whenConnected()]);
    const { commandId } = await laptop.client.send('phone', 'once');
    const cmd = await waitFor('the command', () => phone.commands[0]);
    cmd.ack();
    await waitFor('delivered', () => laptop.delivered.includes(commandId));
    fake.session('phone')!.send({ t: 'command', commandId, fromDevice: 'laptop', body: 'once' });
    await waitFor('a second ack', () => fake.session('phone')!.frames.filter((f) => f.t === 'ack').length === 2);
    expect(phone.commands.length).toBe(1);
  });

  it('client - an ack made while disconnected is sent on the next connection', async () => {
    const fake = await fakeCluster();
    const laptop = device(fake, 'laptop');
    const phone = device(fake, 'phone');
    await Promise.all([laptop.client.whenConnected(), phone.client.whenConnected()]);
    const { commandId } = await laptop.client.send('phone', 'later');
    const cmd = await waitFor('the command', () => phone.commands[0]);
    const first = fake.session('phone')!;
    fake.connectReplies.push({ status: 503, headers: { 'retry-after': '0.2' } });
    await first.kill();
    cmd.ack();
    await waitFor('delivered', () => laptop.delivered.includes(commandId));
    expect(first.frames.some((f) => f.t === 'ack')).toBe(false);
    expect(phone.commands.length).toBe(1);
  });
});

describe('client - events', () => {
  it('client - a throwing listener becomes an error event and the others still run', async () => {
    const fake = await fakeCluster();
    const laptop = device(fake, 'laptop');
    let after = 0;
    laptop.client.on('status', () => {
      throw new Error('boom');
    });
    laptop.client.on('status', () => after++);
    await laptop.client.whenConnected();
    expect(after).toBeGreaterThan(0);
    expect(laptop.errors.some((e) => e.name === 'ListenerError' && /boom/.test(e.message))).toBe(true);
  });
});
