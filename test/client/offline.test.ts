/**
 * The offline-first client against the stand-in cluster (fake-cluster.ts): writes apply at once and
 * queue while offline, go out in order with a txid once connected, come back as conflicts when the
 * server moved on, survive a new client on the same cache; change listeners per collection and key;
 * the server's `resync` frame.
 */
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { memoryCache, type Cache } from '../../client/cache.js';
import { createSyncClient } from '../../client/client.js';
import { ServerError, WriteRejectedError, type SyncError } from '../../client/errors.js';
import type { ChangeEvent, ConflictEvent, SyncClient, SyncClientOptions } from '../../client/types.js';
import { FakeCluster, waitFor } from './fake-cluster.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

async function fakeCluster(): Promise<FakeCluster> {
  const fake = await FakeCluster.start();
  cleanups.push(() => fake[Symbol.asyncDispose]());
  return fake;
}

interface Recorded {
  client: SyncClient;
  changes: ChangeEvent[];
  conflicts: ConflictEvent[];
  pending: number[];
  errors: SyncError[];
}

function device(fake: FakeCluster, deviceId: string, opts: Partial<SyncClientOptions> = {}): Recorded {
  const client = createSyncClient({
    distributorUrl: fake.url, userId: 'u1', deviceId, token: 'good-token', WebSocket, backoff: { minMs: 10, maxMs: 40 }, ...opts,
  });
  cleanups.push(() => client.close());
  const r: Recorded = { client, changes: [], conflicts: [], pending: [], errors: [] };
  client.on('change', (e) => r.changes.push(e));
  client.on('conflict', (e) => r.conflicts.push(e));
  client.on('pending', (e) => r.pending.push(e.count));
  client.on('error', (e) => r.errors.push(e));
  return r;
}

const title = (c: SyncClient, key: string): unknown => (c.get('notes', key)?.value as { title?: string } | undefined)?.title;

describe('client - offline-first writes', () => {
  it('offline - writes made offline apply at once, count as pending and go out in order once connected', async () => {
    const fake = await fakeCluster();
    fake.unavailable = true;
    const laptop = device(fake, 'laptop', { collections: ['notes'] });
    const a = laptop.client.put('notes', 'a', { title: 'A' });
    const b = laptop.client.put('notes', 'b', { title: 'B' });
    const gone = laptop.client.delete('notes', 'a');
    // Before any connection: reads already show the writes.
    expect(laptop.client.pendingWrites).toBe(3);
    expect(laptop.client.entries('notes').map(([k, r]) => [k, r.value, r.pending])).toEqual([['b', { title: 'B' }, true]]);
    expect(laptop.changes.map((c) => [c.key, c.deleted, c.pending])).toEqual([['a', false, true], ['b', false, true], ['a', true, true]]);
    expect(laptop.pending).toEqual([1, 2, 3]);
    await waitFor('a few refused connects', () => fake.connects.length >= 2);
    expect(laptop.client.status).toBe('reconnecting');

    fake.unavailable = false;
    const results = await Promise.all([a, b, gone]);
    expect(results.map((r) => r.rev)).toEqual([1, 2, 3]);
    const commits = fake.sessions.flatMap((s) => s.frames.filter((f) => f.t === 'commit'));
    expect(commits.map((f) => (f.changes as Array<{ key: string }>)[0]!.key)).toEqual(['a', 'b', 'a']);
    expect(new Set(commits.map((f) => f.txid)).size).toBe(3);
    expect(laptop.client.pendingWrites).toBe(0);
    expect(laptop.pending.at(-1)).toBe(0);
    expect(laptop.client.entries('notes').map(([k, r]) => [k, r.rev, r.pending])).toEqual([['b', 2, undefined]]);
  });

  it('offline - a write made offline over a change of another device comes back as a conflict; the cache takes the server state', async () => {
    const fake = await fakeCluster();
    const laptop = device(fake, 'laptop', { collections: ['notes'] });
    const phone = device(fake, 'phone', { collections: ['notes'] });
    await Promise.all([laptop.client.whenConnected(), phone.client.whenConnected()]);
    await laptop.client.put('notes', 'n', { title: 'v1' }, { ifRev: 0 });
    await waitFor('the phone has v1', () => title(phone.client, 'n') === 'v1');

    fake.unavailable = true;
    await fake.session('phone')!.kill();
    await waitFor('the phone is offline', () => phone.client.status !== 'connected');
    const attempt = phone.client.put('notes', 'n', { title: 'v2 phone' }, { ifRev: true });
    expect(title(phone.client, 'n')).toBe('v2 phone');
    await laptop.client.put('notes', 'n', { title: 'v2 laptop' }, { ifRev: true });

    fake.unavailable = false;
    const result = await attempt;
    expect(result.conflicts).toEqual([expect.objectContaining({ key: 'n', value: { title: 'v2 laptop' } })]);
    expect(phone.conflicts).toEqual([expect.objectContaining({ collection: 'notes', key: 'n', value: { title: 'v2 laptop' }, attempted: expect.objectContaining({ value: { title: 'v2 phone' } }) })]);
    expect(title(phone.client, 'n')).toBe('v2 laptop');
    expect(phone.changes.at(-1)).toMatchObject({ key: 'n', value: { title: 'v2 laptop' }, origin: 'remote' });
    expect(phone.changes.at(-1)!.pending).toBeUndefined();
  });

  it('offline - ifRev: true writes queued one after another on a key do not conflict with each other', async () => {
    const fake = await fakeCluster();
    const laptop = device(fake, 'laptop', { autoConnect: false });
    const first = laptop.client.put('notes', 'n', { title: 'one' }, { ifRev: true });
    const second = laptop.client.put('notes', 'n', { title: 'two' }, { ifRev: true });
    expect(title(laptop.client, 'n')).toBe('two');
    laptop.client.reconnect();
    expect((await first).conflicts).toEqual([]);
    expect((await second).conflicts).toEqual([]);
    const commits = fake.sessions.flatMap((s) => s.frames.filter((f) => f.t === 'commit'));
    expect(commits.map((f) => (f.changes as Array<{ base?: number }>)[0]!.base)).toEqual([0, 1]);
    expect(laptop.client.get('notes', 'n')).toEqual({ value: { title: 'two' }, rev: 2, deleted: false });
  });

  it('offline - writes left queued by a closed client are sent by the next client on the same cache (a reload)', async () => {
    const fake = await fakeCluster();
    fake.unavailable = true;
    const cache: Cache = memoryCache();
    const before = device(fake, 'laptop', { cache, collections: ['notes'] });
    const lost = before.client.put('notes', 'k', { title: 'made offline' });
    await before.client.close();
    await expect(lost).rejects.toThrow(/stay queued in the cache/);
    expect(cache.queued().length).toBe(1);

    fake.unavailable = false;
    const after = device(fake, 'laptop', { cache, collections: ['notes'] });
    const phone = device(fake, 'phone', { collections: ['notes'] });
    await waitFor('the phone sees the write', () => title(phone.client, 'k') === 'made offline');
    await waitFor('the outbox is empty', () => after.client.pendingWrites === 0);
    expect(cache.queued()).toEqual([]);
    expect(after.client.get('notes', 'k')?.rev).toBeGreaterThan(0);
  });

  it('offline - a write the server refuses for good is dropped: reads show the server state, an error event says why', async () => {
    const fake = await fakeCluster();
    const laptop = device(fake, 'laptop');
    await laptop.client.whenConnected();
    await laptop.client.put('notes', 'k', { title: 'kept' });
    fake.errorFor = { t: 'commit', code: 'quota_exceeded', message: 'the user has used up 10 MB of storage' };
    const refused = laptop.client.put('notes', 'k', { title: 'x'.repeat(10) });
    const after = laptop.client.put('notes', 'other', { title: 'after' });
    await expect(refused).rejects.toBeInstanceOf(ServerError);
    await after;
    expect(title(laptop.client, 'k')).toBe('kept');
    expect(title(laptop.client, 'other')).toBe('after');
    const err = laptop.errors.find((e) => e instanceof WriteRejectedError) as WriteRejectedError;
    expect(err).toMatchObject({ code: 'quota_exceeded', collection: 'notes', keys: ['k'] });
    expect(err.message).toMatch(/10 MB/);
    expect(laptop.changes.filter((c) => c.key === 'k').at(-1)).toMatchObject({ value: { title: 'kept' }, origin: 'remote' });
  });
});

describe('client - subscriptions', () => {
  it('subscriptions - listeners per collection and per key hear only their changes and stop when removed', async () => {
    const fake = await fakeCluster();
    const laptop = device(fake, 'laptop', { autoConnect: false });
    const notes: string[] = [];
    const keyA: Array<unknown> = [];
    const offNotes = laptop.client.onCollection('notes', (e) => notes.push(e.key));
    const offA = laptop.client.onKey('notes', 'a', (e) => keyA.push(e.value));
    laptop.client.put('notes', 'a', 1);
    laptop.client.put('notes', 'b', 2);
    laptop.client.put('todos', 'a', 3);
    expect(notes).toEqual(['a', 'b']);
    expect(keyA).toEqual([1]);
    offA();
    laptop.client.put('notes', 'a', 4);
    expect(keyA).toEqual([1]);
    expect(notes).toEqual(['a', 'b', 'a']);
    offNotes();
    laptop.client.put('notes', 'b', 5);
    expect(notes).toEqual(['a', 'b', 'a']);
  });
});

describe('client - resync', () => {
  it('resync - the server frame makes the client pull every followed collection from its cursor', async () => {
    const fake = await fakeCluster();
    const laptop = device(fake, 'laptop', { collections: ['notes', 'todos'] });
    await laptop.client.whenConnected();
    await waitFor('the first pulls', () => fake.pulls.length >= 2);
    // Records written with no sync push (as if the push was lost).
    const session = fake.session('laptop')!;
    fake.storeDirect('u1', 'notes', 'missed', { title: 'missed' }, { push: false });
    const pullsBefore = fake.pulls.length;
    session.send({ t: 'resync' });
    await waitFor('the missed note', () => title(laptop.client, 'missed') === 'missed');
    const after = fake.pulls.slice(pullsBefore).map((p) => p.collection);
    expect(after).toEqual(expect.arrayContaining(['notes', 'todos']));
  });
});
