import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { connect } from '@nats-io/transport-node';
import { natsServer } from '../kit/nats.js';
import { decode } from '../../protocol/mod.js';
import { userKey } from '../../protocol/cluster/mod.js';
import { pickByRendezvous } from '../../runtime/mod.js';
import { CloseCode } from '../../gateway/socket/mod.js';
import { childSocketNode, type ChildSocketNode } from './child.js';
import { closeAll, socketNode, until, TestClient, type SocketNode } from './kit.js';

/** Opens a device and says whether it got in (welcome) or was refused (quota_exceeded, 4101). */
async function tryOpen(node: SocketNode, userId: string, deviceId: string, clients: TestClient[]): Promise<'in' | 'refused'> {
  const r = await TestClient.open(node.server.url, node.ticket(userId, deviceId));
  clients.push(r);
  await until(() => r.frames.length > 0 || !r.isOpen, `an answer to ${deviceId}`);
  if (r.frames[0]?.['t'] === 'welcome') return 'in';
  expect((await r.closed).code).toBe(CloseCode.policy);
  expect(r.frames[0]).toMatchObject({ t: 'error', code: 'quota_exceeded' });
  return 'refused';
}

describe('socket - connections per user', () => {
  it('socket - a user over the connection quota is refused (quota_exceeded, close 4101, no welcome), counted across nodes; the same device may always reconnect', async () => {
    await using ns = await natsServer();
    const server = { maxConnectionsPerUser: 2 };
    await using a = await socketNode(ns.url, { store: 'none', server });
    await using b = await socketNode(ns.url, { store: 'none', server });
    const clients: TestClient[] = [];
    try {
      const laptop = await a.client('alice', 'laptop');
      const phone = await b.client('alice', 'phone');
      clients.push(laptop, phone);

      // A third device, on either node: refused before its session starts (no welcome).
      for (const node of [a, b]) {
        const r = await TestClient.open(node.server.url, node.ticket('alice', 'tablet'));
        clients.push(r);
        expect((await r.closed).code).toBe(CloseCode.policy);
        expect(r.frames).toEqual([expect.objectContaining({ t: 'error', code: 'quota_exceeded' })]);
      }
      expect(a.server.stats().quotaRefused + b.server.stats().quotaRefused).toBe(2);

      // Other users are not affected.
      clients.push(await a.client('bob', 'laptop'));

      // The same device reconnecting (here on the other node) is not a new connection: it replaces its older one.
      const phoneAgain = await a.client('alice', 'phone');
      clients.push(phoneAgain);
      expect((await phone.closed).code).toBe(CloseCode.replaced);

      // Once a device leaves, another may come.
      laptop.close();
      await laptop.closed;
      let tablet: TestClient | undefined;
      await until(async () => {
        const r = await TestClient.open(b.server.url, b.ticket('alice', 'tablet'));
        clients.push(r);
        await until(() => r.frames.length > 0 || !r.isOpen, 'an answer');
        if (r.frames[0]?.['t'] === 'welcome') tablet = r;
        return tablet !== undefined;
      }, 'the tablet to be admitted once the laptop left');
      expect(phoneAgain.isOpen).toBe(true);
    } finally {
      await closeAll(clients);
    }
  });

  it('socket - the count moves with its owner: a socket node that joins learns the live connections before it refuses for them', async () => {
    await using ns = await natsServer();
    const server = { maxConnectionsPerUser: 2 };
    const ids = ['quota-a', 'quota-b', 'quota-c'];
    // A user whose owner is the node that joins later: its count has to move there.
    const carol = Array.from({ length: 100 }, (_, i) => `carol-${i}`).find((u) => pickByRendezvous(userKey(u), ids.map((id) => ({ id, weight: 1 }))) === 'quota-c')!;
    await using a = await socketNode(ns.url, { store: 'none', server, nodeId: ids[0]! });
    await using b = await socketNode(ns.url, { store: 'none', server, nodeId: ids[1]! });
    const clients: TestClient[] = [];
    try {
      clients.push(await a.client(carol, 'laptop'), await b.client(carol, 'phone'));
      expect(a.server.stats().quotaOwned + b.server.stats().quotaOwned).toBe(2);
      await using c = await socketNode(ns.url, { store: 'none', server, nodeId: ids[2]! });
      const nodes = [a, b, c];
      // The new owner learns carol's two devices from the refreshes; the old one drops them.
      await until(() => nodes.map((n) => n.server.stats().quotaOwned).join(',') === '0,0,2', "the joining node to count carol's 2 devices", 10_000);
      for (const n of nodes) expect(await tryOpen(n, carol, 'tablet', clients), `tablet on ${n.node.id}`).toBe('refused');
    } finally {
      await closeAll(clients);
    }
  });

  it('socket - connections of a node that died (kill -9) stop counting', async () => {
    await using ns = await natsServer();
    const server = { maxConnectionsPerUser: 2 };
    await using a = await socketNode(ns.url, { store: 'none', server });
    await using doomed = await childSocketNode(ns.url, { store: false, maxConnectionsPerUser: 2 });
    const clients: TestClient[] = [];
    try {
      clients.push(await a.client('dave', 'laptop'), await doomed.client('dave', 'phone'));
      expect(await tryOpen(a, 'dave', 'tablet', clients)).toBe('refused');
      doomed.process.kill('SIGKILL');
      // Once membership declares it down (3 s), its phone no longer counts.
      let tablet: 'in' | 'refused' = 'refused';
      await until(async () => (tablet = await tryOpen(a, 'dave', 'tablet', clients)) === 'in', "the dead node's connection to stop counting", 20_000);
      expect(tablet).toBe('in');
    } finally {
      await closeAll(clients);
    }
  });
  it('socket - sockets opened together have their admissions asked of the owner in one request (admits), and each user still gets at most its quota', async () => {
    await using ns = await natsServer();
    const owners = [{ id: 'quota-owner', weight: 1 }, { id: 'quota-opener', weight: 1 }];
    await using owner = await socketNode(ns.url, { store: 'none', server: { maxConnectionsPerUser: 2 }, nodeId: 'quota-owner' });
    await using opener = await childSocketNode(ns.url, { store: false, maxConnectionsPerUser: 2, nodeId: 'quota-opener' });
    const nc = await connect({ servers: ns.url });
    const asked: Record<string, unknown>[] = [];
    const sub = nc.subscribe(`sm.quota.${owner.node.id}`, {
      callback: (err, m) => {
        if (err === null) asked.push(decode(m.data) as Record<string, unknown>);
      },
    });
    const clients: TestClient[] = [];
    try {
      await nc.flush();
      await until(() => owner.node.members().some((m) => m.nodeId === opener.nodeId && m.meta['quotaBatch'] === 1), 'the owner to see the opener as a socket server');
      // The opener asks the owner only once it sees the owner too: a first device of another user shows it.
      const other = Array.from({ length: 200 }, (_, i) => `gus-${i}`).find((u) => pickByRendezvous(userKey(u), owners) === owner.node.id)!;
      await until(async () => {
        clients.push(await opener.client(other, 'probe'));
        return asked.some((a) => a['n'] === opener.nodeId);
      }, 'the opener to ask the owner');
      const users = Array.from({ length: 200 }, (_, i) => `erin-${i}`).filter((u) => pickByRendezvous(userKey(u), owners) === owner.node.id).slice(0, 3);
      const devices = ['d1', 'd2', 'd3', 'd4'];
      // Stopped, the opener's kernel takes the 12 connections and their upgrade requests; let go, the
      // node reads them all in one turn of its loop.
      opener.process.kill('SIGSTOP');
      let resumed = false;
      try {
        const port = new URL(opener.url).port;
        const outcomes = users.flatMap((u) => devices.map((d) => outcome(opener, u, d, clients)));
        await until(() => waitingUpgrades(port) >= users.length * devices.length, 'the 12 upgrade requests to wait in the stopped node');
        opener.process.kill('SIGCONT');
        resumed = true;
        const results = await Promise.all(outcomes);
        for (const [i, u] of users.entries()) {
          const mine = results.slice(i * devices.length, (i + 1) * devices.length);
          expect(mine.filter((r) => r === 'in'), `devices of ${u} let in`).toHaveLength(2);
        }
      } finally {
        if (!resumed) opener.process.kill('SIGCONT');
      }
      const batches = asked.filter((a) => a['t'] === 'admits' && a['n'] === opener.nodeId);
      expect(batches.length).toBeGreaterThan(0);
      expect(Math.max(...batches.map((b) => (b['e'] as unknown[]).length))).toBeGreaterThan(1);
      // Every one of the 12 admissions was asked of the owner, in a batch or alone.
      const entries = batches.flatMap((b) => (b['e'] as unknown[][]).map((e) => String(e[0])));
      const singles = asked.filter((a) => a['t'] === 'admit' && a['n'] === opener.nodeId).map((a) => String(a['u']));
      expect([...entries, ...singles].filter((u) => users.some((user) => userKey(user) === u))).toHaveLength(users.length * devices.length);
    } finally {
      sub.unsubscribe();
      await nc.close();
      await closeAll(clients);
    }
  });
});

/** Opens a device on a child node: 'in' (welcome) or 'refused' (quota_exceeded, 4101). */
async function outcome(node: ChildSocketNode, userId: string, deviceId: string, clients: TestClient[]): Promise<'in' | 'refused'> {
  const r = await TestClient.open(node.url, node.ticket(userId, deviceId));
  clients.push(r);
  await until(() => r.frames.length > 0 || !r.isOpen, `an answer to ${userId}/${deviceId}`);
  if (r.frames[0]?.['t'] === 'welcome') return 'in';
  expect(r.frames[0]).toMatchObject({ t: 'error', code: 'quota_exceeded' });
  return 'refused';
}

/**
 * Established connections to local `port` holding bytes the server has not read yet (/proc/net/tcp:
 * state 01, rx_queue > 0), accepted or still in the listen queue.
 */
function waitingUpgrades(port: string): number {
  const hexPort = Number(port).toString(16).toUpperCase().padStart(4, '0');
  return readFileSync('/proc/net/tcp', 'utf8')
    .split('\n')
    .slice(1)
    .map((l) => l.trim().split(/\s+/))
    .filter((f) => f[1]?.endsWith(`:${hexPort}`) && f[3] === '01' && Number.parseInt(f[4]?.split(':')[1] ?? '0', 16) > 0).length;
}
