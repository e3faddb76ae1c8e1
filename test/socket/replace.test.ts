import { describe, expect, it } from 'vitest';
import { jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';
import { natsServer } from '../kit/nats.js';
import { connectionId, pushSubjects } from '../../protocol/cluster/mod.js';
import { CloseCode } from '../../gateway/socket/mod.js';
import { decodeFenceControl, encodeFenceControl, EPOCHS_PER_MS } from '../../gateway/socket/fence.js';
import { childSocketNode } from './child.js';
import { closeAll, socketNode, until, TestClient } from './kit.js';

/** Fence controls seen on `cid`'s push subject (this test process plays another socket node). */
function watchControls(nc: NatsConnection, cid: string): { epoch: number; node: string }[] {
  const seen: { epoch: number; node: string }[] = [];
  nc.subscribe(pushSubjects.connection('sm', cid), {
    callback: (_err, msg) => {
      const c = decodeFenceControl(msg.data);
      if (c !== undefined) seen.push({ epoch: c.epoch, node: c.node });
    },
  });
  return seen;
}

describe('socket - one live session per connection id', () => {
  it('socket - a newer connection replaces the older one on the same node', async () => {
    await using ns = await natsServer();
    await using sn = await socketNode(ns.url);
    const first = await sn.client('alice', 'laptop');
    const second = await sn.client('alice', 'laptop');
    try {
      expect((await first.closed).code).toBe(CloseCode.replaced);
      expect(second.isOpen).toBe(true);
      expect(await second.request({ t: 'pull', id: 1, collection: 'c', since: 0 })).toMatchObject({ t: 'changes', id: 1 });
      await until(() => sn.server.stats().replaced === 1 && sn.server.stats().connections === 1, 'the old session gone');
    } finally {
      await closeAll([first, second]);
    }
  });

  it('socket - a newer connection on another node process replaces the older one, both ways', async () => {
    await using ns = await natsServer();
    await using n1 = await socketNode(ns.url);
    await using n2 = await childSocketNode(ns.url);
    const clients: TestClient[] = [];
    try {
      const a = await n1.client('alice', 'laptop');
      clients.push(a);
      const b = await n2.client('alice', 'laptop');
      clients.push(b);
      expect((await a.closed).code).toBe(CloseCode.replaced);
      expect(b.isOpen).toBe(true);
      const c = await n1.client('alice', 'laptop');
      clients.push(c);
      expect((await b.closed).code).toBe(CloseCode.replaced);
      expect(await c.request({ t: 'pull', id: 1, collection: 'c', since: 0 })).toMatchObject({ t: 'changes', id: 1 });
      // Another device of the same user is not affected.
      const phone = await n2.client('alice', 'phone');
      clients.push(phone);
      expect(c.isOpen && phone.isOpen).toBe(true);
    } finally {
      await closeAll(clients);
    }
  });

  it('socket - of two connections racing on two nodes exactly one stays: the one that opened last', async () => {
    await using ns = await natsServer();
    await using n1 = await socketNode(ns.url);
    await using n2 = await socketNode(ns.url);
    const clients: TestClient[] = [];
    try {
      for (let round = 0; round < 5; round++) {
        const device = `racer-${round}`;
        const controls = watchControls(n1.nc, connectionId('alice', device));
        await n1.nc.flush();
        const [x, y] = await Promise.all([
          TestClient.open(n1.server.url, n1.ticket('alice', device)),
          TestClient.open(n2.server.url, n2.ticket('alice', device)),
        ]);
        clients.push(x!, y!);
        await until(() => !x!.isOpen || !y!.isOpen, `one of the racers of round ${round} closed`);
        const [loser, winner, winnerNode] = x!.isOpen ? [y!, x!, n1.node.id] : [x!, y!, n2.node.id];
        expect((await loser.closed).code).toBe(CloseCode.replaced);
        await winner.take((f) => f['t'] === 'welcome');
        expect(await winner.request({ t: 'pull', id: 1, collection: 'c', since: 0 })).toMatchObject({ t: 'changes' });
        expect(winner.isOpen).toBe(true);
        // The winner announced itself, and its claim is the newest seen (the loser announced an older
        // one, or none: a newer announcement that arrives before a session is claimed supersedes it).
        await until(() => controls.some((c) => c.node === winnerNode), `the winner's claim of round ${round} seen`);
        const newest = [...controls].sort((a, b) => a.epoch - b.epoch || (a.node < b.node ? -1 : 1)).at(-1)!;
        expect(newest.node).toBe(winnerNode);
      }
    } finally {
      await closeAll(clients);
    }
  });

  it('socket - a late announcement of an older session is answered, and that session closes; a newer one replaces ours', async () => {
    await using ns = await natsServer();
    await using sn = await socketNode(ns.url);
    const laptop = await sn.client('alice', 'laptop');
    const phone = await sn.client('alice', 'phone');
    const laptopId = connectionId('alice', 'laptop');
    const phoneId = connectionId('alice', 'phone');
    const laptopControls = watchControls(sn.nc, laptopId);
    await sn.nc.flush();
    try {
      // Another node announces a session of the laptop that opened a minute ago (it was paused with
      // its announcement in flight): ours is newer, so ours answers and stays.
      const old = (Date.now() - 60_000) * EPOCHS_PER_MS;
      sn.nc.publish(pushSubjects.connection('sm', laptopId), encodeFenceControl('alice', old, 'elsewhere'));
      await until(() => laptopControls.some((c) => c.node === sn.node.id && c.epoch > old), 'our answer with the newer claim');
      expect(laptop.isOpen).toBe(true);
      // A session of the phone opened later than ours, elsewhere: ours closes as replaced.
      sn.nc.publish(pushSubjects.connection('sm', phoneId), encodeFenceControl('alice', (Date.now() + 1_000) * EPOCHS_PER_MS, 'elsewhere'));
      expect((await phone.closed).code).toBe(CloseCode.replaced);
      expect(laptop.isOpen).toBe(true);
      // A control naming another user on this id's subject (a user-key collision) is ignored.
      sn.nc.publish(pushSubjects.connection('sm', laptopId), encodeFenceControl('mallory', (Date.now() + 1_000) * EPOCHS_PER_MS, 'elsewhere'));
      expect(await laptop.request({ t: 'pull', id: 2, collection: 'c', since: 0 })).toMatchObject({ t: 'changes', id: 2 });
      expect(laptop.isOpen).toBe(true);
    } finally {
      await closeAll([laptop, phone]);
    }
  });

  it('socket - after a NATS reconnect every session is announced again, and one replaced meanwhile closes', async () => {
    await using ns = await natsServer();
    await using sn = await socketNode(ns.url);
    const c = await sn.client('alice', 'laptop');
    const keep = await sn.client('alice', 'phone');
    const cid = connectionId('alice', 'laptop');
    const keepId = connectionId('alice', 'phone');
    // This process plays the node that took the laptop's id while no control reached sn: it answers
    // sn's announcement of the laptop with a newer claim, as a real holder does (claims.ts control()).
    const newer = (Date.now() + 1_000) * EPOCHS_PER_MS;
    const announced = new Set<string>();
    for (const id of [cid, keepId]) {
      sn.nc.subscribe(pushSubjects.connection('sm', id), {
        callback: (_err, msg) => {
          const control = decodeFenceControl(msg.data);
          if (control === undefined || control.node !== sn.node.id) return;
          announced.add(id);
          if (id === cid) sn.nc.publish(pushSubjects.connection('sm', cid), encodeFenceControl('alice', newer, 'elsewhere'));
        },
      });
    }
    await sn.nc.flush();
    try {
      expect(c.isOpen).toBe(true);
      announced.clear();
      await ns.restart(); // the node reconnects and announces every session it holds
      expect((await c.closed).code).toBe(CloseCode.replaced);
      await until(() => announced.has(keepId), 'the phone announced again');
      expect(keep.isOpen).toBe(true);
    } finally {
      await closeAll([c, keep]);
    }
  });

  it('socket - the fence stores nothing: no JetStream stream for it, and sessions open and close with none', async () => {
    await using ns = await natsServer();
    await using sn = await socketNode(ns.url, { store: 'none' });
    const c = await sn.client('alice', 'laptop');
    const jsm = await jetstreamManager(sn.nc);
    const streams: string[] = [];
    for await (const si of jsm.streams.list()) streams.push(si.config.name);
    expect(streams).not.toContain('KV_sm_sessions');
    c.close();
    await c.closed;
  });
});
