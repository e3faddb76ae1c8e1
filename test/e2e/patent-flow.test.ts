/**
 * The system of claim 1 end to end, through the real local cluster (`npm start`'s program): nats-server,
 * gateway, storage + push, two socket nodes, each its own OS process; devices speak the public protocol.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectRequest, devToken, Device, type Frame } from '../kit/device.js';
import { localCluster, type LocalCluster } from '../kit/cluster.js';

let cluster: LocalCluster;
const open: Device[] = [];

async function device(userId: string, deviceId: string): Promise<Device> {
  const d = await Device.open(cluster.url, userId, deviceId);
  open.push(d);
  return d;
}

/** A device id of `userId` whose connection lands on a different socket node than `other`. */
async function deviceOnOtherNode(userId: string, other: Device): Promise<string> {
  const token = await devToken(cluster.url, userId);
  for (let i = 0; i < 64; i++) {
    const ans = await connectRequest(cluster.url, token, userId, `dev-${i}`);
    if (ans.socket.url !== other.answer.socket.url) return `dev-${i}`;
  }
  throw new Error('every device id landed on one socket node: allocation does not spread');
}

beforeAll(async () => {
  cluster = await localCluster({ socketNodes: 2 });
}, 90_000);

afterAll(async () => {
  for (const d of open) d.close();
  await cluster?.[Symbol.asyncDispose]();
}, 60_000);

describe('patent flow - commit, push, sync', () => {
  it('patent flow - a commit on device A reaches the other devices of its user as sync, never A, never another user; pull returns the data', async () => {
    const a = await device('alice', 'laptop');
    const b = await device('alice', await deviceOnOtherNode('alice', a));
    const c = await device('alice', 'tablet');
    const other = await device('bob', 'laptop');
    expect(b.answer.socket.url).not.toBe(a.answer.socket.url);

    const committed = await a.request({ t: 'commit', collection: 'bookmarks', changes: [{ key: 'k1', value: { url: 'https://example.org', n: 2n ** 40n } }] });
    expect(committed.t).toBe('committed');
    expect(committed['conflicts']).toEqual([]);
    const rev = committed['rev'] as number;
    expect(rev).toBeGreaterThan(0);

    for (const d of [b, c]) {
      const sync = await d.next((f) => f.t === 'sync');
      expect(sync).toMatchObject({ t: 'sync', collection: 'bookmarks' });
      expect(sync['rev']).toBeGreaterThanOrEqual(rev);
      const pulled = await d.request({ t: 'pull', collection: 'bookmarks', since: 0 });
      expect(pulled).toMatchObject({ t: 'changes', collection: 'bookmarks', more: false });
      const changes = pulled['changes'] as { key: string; value: { url: string; n: bigint | number }; rev: number }[];
      expect(changes).toHaveLength(1);
      expect(changes[0]!.key).toBe('k1');
      expect(changes[0]!.value.url).toBe('https://example.org');
      expect(BigInt(changes[0]!.value.n)).toBe(2n ** 40n);
    }
    // Device A and the other user's device get no sync: a later round trip on each proves the pushes had time.
    await a.request({ t: 'pull', collection: 'bookmarks', since: rev });
    const otherPull = await other.request({ t: 'pull', collection: 'bookmarks', since: 0 });
    expect(otherPull['changes']).toEqual([]);
    expect(a.frames.filter((f) => f.t === 'sync')).toEqual([]);
    expect(other.frames.filter((f) => f.t === 'sync')).toEqual([]);
  });

  it('conflicts - a change with a stale base is not applied and comes back with the current state', async () => {
    const a = await device('carol', 'one');
    const first = await a.request({ t: 'commit', collection: 'notes', changes: [{ key: 'n', value: 'v1' }] });
    const rev1 = first['rev'] as number;
    const second = await a.request({ t: 'commit', collection: 'notes', changes: [{ key: 'n', value: 'v2', base: rev1 }] });
    expect(second['conflicts']).toEqual([]);
    const stale = await a.request({ t: 'commit', collection: 'notes', changes: [{ key: 'n', value: 'v3', base: rev1 }, { key: 'm', value: 'ok' }] });
    const conflicts = stale['conflicts'] as { key: string; rev: number; value: unknown }[];
    expect(conflicts).toEqual([{ key: 'n', rev: second['rev'], value: 'v2' }]);
    const pulled = await a.request({ t: 'pull', collection: 'notes', since: 0 });
    const byKey = Object.fromEntries((pulled['changes'] as { key: string; value: unknown }[]).map((c) => [c.key, c.value]));
    expect(byKey).toEqual({ n: 'v2', m: 'ok' });
  });

  it('offline catch-up - a device that was away pulls everything it missed, each key once in its latest state, deletes included', async () => {
    const a = await device('dave', 'desk');
    const seen = await a.request({ t: 'commit', collection: 'c', changes: [{ key: 'x', value: 1 }, { key: 'y', value: 1 }] });
    const cursor = seen['rev'] as number;
    await a.request({ t: 'commit', collection: 'c', changes: [{ key: 'x', value: 2 }] });
    await a.request({ t: 'commit', collection: 'c', changes: [{ key: 'x', value: 3 }, { key: 'y', deleted: true }, { key: 'z', value: 'new' }] });
    const b = await device('dave', 'phone');
    const pulled = await b.request({ t: 'pull', collection: 'c', since: cursor });
    const changes = (pulled['changes'] as { key: string; value?: unknown; deleted?: boolean }[]).map((c) => ({ key: c.key, value: c.value ?? null, deleted: c.deleted ?? false }));
    changes.sort((p, q) => p.key.localeCompare(q.key));
    expect(changes).toEqual([
      { key: 'x', value: 3, deleted: false },
      { key: 'y', value: null, deleted: true },
      { key: 'z', value: 'new', deleted: false },
    ]);
  });

  it('commands - a command to an offline device is kept, delivered when it connects, and the sender hears delivered', async () => {
    const a = await device('erin', 'laptop');
    // The phone connected once before (commands go only to known devices), and is offline now.
    const before = await device('erin', 'phone');
    expect((await before.request({ t: 'commit', collection: 'hello', changes: [{ key: 'phone', value: 1 }] })).t).toBe('committed');
    before.close();
    const sent = await a.request({ t: 'send', toDevice: 'phone', body: { open: 'https://example.org/tab' } });
    const commandId = sent['commandId'] as string;
    expect(typeof commandId).toBe('string');
    const b = await device('erin', 'phone');
    const cmd = await b.next((f) => f.t === 'command');
    expect(cmd).toMatchObject({ t: 'command', commandId, body: { open: 'https://example.org/tab' } });
    b.send({ t: 'ack', commandId });
    await a.next((f) => f.t === 'delivered' && f['commandId'] === commandId);
    // Acked: a reconnecting phone does not get it again.
    b.close();
    await b.closedWith();
    const b2 = await device('erin', 'phone');
    await b2.request({ t: 'pull', collection: 'none', since: 0 });
    expect(b2.frames.filter((f: Frame) => f.t === 'command')).toEqual([]);
  });

  it('sessions - a second connection with the same connection id replaces the first', async () => {
    const first = await device('frank', 'laptop');
    const second = await device('frank', 'laptop');
    expect(second.connectionId).toBe(first.connectionId);
    const closed = await first.closedWith();
    expect(closed.code).toBeGreaterThanOrEqual(4000);
    const ok = await second.request({ t: 'pull', collection: 'c', since: 0 });
    expect(ok.t).toBe('changes');
  });
});

describe('metrics - Prometheus endpoint of every node', () => {
  it('metrics - each node serves GET /metrics with runtime counters; socket nodes count their connections', async () => {
    const d = await device('mia', 'laptop');
    const socketNode = cluster.state.processes.find((p) => p.socket === d.answer.socket.url);
    expect(socketNode?.metrics).toBeDefined();
    const text = await (await fetch(socketNode!.metrics!)).text();
    expect(text).toMatch(/^syncmesh_up\{node="[^"]+"\} 1$/m);
    expect(text).toMatch(/^syncmesh_runtime_messages_in_total\{node="[^"]+"\} \d+$/m);
    const connections = Number(/^syncmesh_socket_connections\{node="[^"]+"\} (\d+)$/m.exec(text)?.[1]);
    expect(connections).toBeGreaterThanOrEqual(1);
    for (const p of cluster.state.processes) {
      const res = await fetch(p.metrics!);
      expect(res.status).toBe(200);
      expect(await res.text()).toMatch(/^syncmesh_runtime_members\{node="[^"]+"\} [1-9]\d*$/m);
    }
    expect((await fetch(socketNode!.metrics!.replace('/metrics', '/nope'))).status).toBe(404);
  });
});
