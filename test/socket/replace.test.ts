import { describe, expect, it } from 'vitest';
import { Kvm } from '@nats-io/kv';
import { natsServer } from '../kit/nats.js';
import { connectionId } from '../../protocol/cluster/mod.js';
import { decode, encode } from '../../protocol/mod.js';
import { CloseCode } from '../../gateway/socket/mod.js';
import { childSocketNode } from './child.js';
import { closeAll, socketNode, until, TestClient } from './kit.js';

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

  it('socket - of two connections racing on two nodes exactly one stays, and the fence names it', async () => {
    await using ns = await natsServer();
    await using n1 = await socketNode(ns.url);
    await using n2 = await socketNode(ns.url);
    const kv = await new Kvm(n1.nc).open('sm_sessions');
    const clients: TestClient[] = [];
    try {
      for (let round = 0; round < 5; round++) {
        const device = `racer-${round}`;
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
        const entry = await kv.get(connectionId('alice', device));
        expect(entry?.operation).toBe('PUT');
        expect((decode(entry!.value) as { node: string }).node).toBe(winnerNode);
      }
    } finally {
      await closeAll(clients);
    }
  });

  it('socket - after a NATS reconnect a session that lost its fence meanwhile closes itself', async () => {
    await using ns = await natsServer();
    await using sn = await socketNode(ns.url);
    const kv = await new Kvm(sn.nc).open('sm_sessions');
    const c = await sn.client('alice', 'laptop');
    const keep = await sn.client('alice', 'phone');
    const cid = connectionId('alice', 'laptop');
    try {
      await until(async () => (await kv.get(cid))?.operation === 'PUT', 'the fence claimed');
      // Another node claimed this id while no control reached us (as if we were cut off from NATS).
      await kv.put(cid, encode({ node: 'elsewhere', at: Date.now() }));
      expect(c.isOpen).toBe(true);
      await ns.restart(); // the node reconnects and re-checks the fence of every session it holds
      expect((await c.closed).code).toBe(CloseCode.replaced);
      expect(keep.isOpen).toBe(true);
    } finally {
      await closeAll([c, keep]);
    }
  });

  it('socket - the newest open wins, not the last write: a claim held up past a later session of its device gives way', async () => {
    await using ns = await natsServer();
    await using sn = await socketNode(ns.url);
    const kv = await new Kvm(sn.nc).open('sm_sessions');
    const late = connectionId('alice', 'laptop');
    const early = connectionId('alice', 'phone');
    // As if another node's session of each device were already in the fence: for the laptop, one that
    // opened after the one we are about to open (our claim is the stale one, e.g. this node was paused
    // with the claim in flight); for the phone, one that opened long before (ours is newer).
    const laterRev = await kv.put(late, encode({ node: 'elsewhere', at: Date.now() + 60_000 }));
    await kv.put(early, encode({ node: 'elsewhere', at: Date.now() - 60_000 }));
    const stale = await sn.client('alice', 'laptop');
    const fresh = await sn.client('alice', 'phone');
    try {
      expect((await stale.closed).code).toBe(CloseCode.replaced);
      const kept = await kv.get(late);
      expect(kept?.revision, 'the later session keeps its claim').toBe(laterRev);
      expect((decode(kept!.value) as { node: string }).node).toBe('elsewhere');
      await until(async () => (decode((await kv.get(early))!.value) as { node: string }).node === sn.node.id, 'the newer session to take the phone id');
      expect(fresh.isOpen).toBe(true);
    } finally {
      await closeAll([stale, fresh]);
    }
  });

  it('socket - a closed session removes its fence key, leaving no marker behind', async () => {
    await using ns = await natsServer();
    await using sn = await socketNode(ns.url);
    const kv = await new Kvm(sn.nc).open('sm_sessions');
    const c = await sn.client('alice', 'laptop');
    const cid = connectionId('alice', 'laptop');
    await until(async () => (await kv.get(cid))?.operation === 'PUT', 'the fence claimed');
    c.close();
    await c.closed;
    await until(async () => (await kv.get(cid)) === null, 'the fence key removed');
    // Not a delete marker: the bucket holds nothing for sessions that ended (it does not grow with devices ever seen).
    expect((await kv.status()).values).toBe(0);
  });
});
