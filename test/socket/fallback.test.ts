/**
 * Fallback offers (gateway/socket/fallback.ts): the welcome names the node the distributor would pick with
 * this one excluded, and a single-use ticket for it that that node accepts.
 */
import { describe, expect, it } from 'vitest';
import { natsServer } from '../kit/nats.js';
import { SocketTable } from '../../actors/distributor/mod.js';
import { connectionId } from '../../protocol/cluster/mod.js';
import { verifyTicket } from '../../gateway/ticket.js';
import { closeAll, SECRET, socketNode, storageNode, TestClient, tryOpen, until, type Refusal, type SocketNode } from './kit.js';

type Offer = { node: string; socket: { host: string; port: number; url: string }; ticket: string; expiresAt: number };

const sees = (from: SocketNode, other: SocketNode): boolean =>
  from.node.members().some((m) => m.nodeId === other.node.id && m.meta['socketUrl'] === other.server.url);

async function welcomeOf(sn: SocketNode, userId: string, deviceId: string, o: { tex?: number } = {}): Promise<{ client: TestClient; welcome: Record<string, unknown> }> {
  const client = await TestClient.open(sn.server.url, sn.ticket(userId, deviceId, o));
  const welcome = await client.take((f) => f['t'] === 'welcome');
  return { client, welcome };
}

describe('socket - fallback offers in welcome', () => {
  it('socket - welcome offers the next node with a single-use ticket that node accepts, capped by the token', async () => {
    await using ns = await natsServer();
    await using a = await socketNode(ns.url, { store: 'none' });
    const opened: TestClient[] = [];
    try {
      // Alone: nowhere to fall back to.
      const alone = await welcomeOf(a, 'alice', 'laptop');
      opened.push(alone.client);
      expect(alone.welcome['fallback']).toBeUndefined();

      await using b = await socketNode(ns.url, { store: 'none' });
      await until(() => sees(a, b), 'node a to see node b as a socket server');
      const before = Date.now();
      const { client, welcome } = await welcomeOf(a, 'alice', 'phone');
      opened.push(client);
      const offer = welcome['fallback'] as Offer;
      expect(offer).toMatchObject({ node: b.node.id, socket: { host: '127.0.0.1', port: b.server.port, url: b.server.url } });
      // An hour by default; bound to b's run, marked as a fallback ticket.
      expect(offer.expiresAt).toBeGreaterThanOrEqual(before + 3_600_000);
      expect(offer.expiresAt).toBeLessThanOrEqual(Date.now() + 3_600_000);
      const claims = verifyTicket(SECRET, offer.ticket, b.node.id, Date.now(), { run: b.server.run, maxFallbackTtlMs: 3_700_000 });
      expect(claims).toMatchObject({ cid: connectionId('alice', 'phone'), uid: 'alice', did: 'phone', node: b.node.id, fb: true });

      // The distributor's own choice: the table over both nodes, this one excluded.
      const table = SocketTable.fromMembers(a.node.members());
      expect(table.pick(connectionId('alice', 'phone'), [a.node.id])?.id).toBe(b.node.id);

      // b accepts it once; a second use is a replay.
      const moved = await TestClient.open(offer.socket.url, offer.ticket);
      opened.push(moved);
      const movedWelcome = await moved.take((f) => f['t'] === 'welcome');
      expect(movedWelcome).toMatchObject({ connectionId: connectionId('alice', 'phone'), node: b.node.id });
      const again = await tryOpen(offer.socket.url, offer.ticket);
      if (again instanceof TestClient) opened.push(again);
      expect((again as Refusal).status).toBe(401);
      expect(JSON.parse((again as Refusal).body)).toMatchObject({ error: { problem: 'replayed' } });
      // Its welcome on b offers a in turn.
      expect((movedWelcome['fallback'] as Offer).node).toBe(a.node.id);

      // The offer never outlives the user's token the distributor checked (`tex`) ...
      const tex = Date.now() + 60_000;
      const capped = await welcomeOf(a, 'alice', 'tablet', { tex });
      opened.push(capped.client);
      expect((capped.welcome['fallback'] as Offer).expiresAt).toBe(tex);
      // ... and is not made when the token is about to expire.
      const late = await welcomeOf(a, 'alice', 'watch', { tex: Date.now() + 2_000 });
      opened.push(late.client);
      expect(late.welcome['fallback']).toBeUndefined();
    } finally {
      await closeAll(opened);
    }
  });

  it('socket - connections get a new offer when the socket servers change: a node joining, then leaving', async () => {
    await using ns = await natsServer();
    await using a = await socketNode(ns.url, { store: 'none' });
    const opened: TestClient[] = [];
    try {
      const early = await welcomeOf(a, 'carol', 'laptop');
      opened.push(early.client);
      expect(early.welcome['fallback']).toBeUndefined();

      const b = await socketNode(ns.url, { store: 'none' });
      let bOpen = true;
      try {
        const joined = await early.client.take((f) => f['t'] === 'fallback', 10_000);
        expect(joined['fallback']).toMatchObject({ node: b.node.id, socket: { url: b.server.url } });
        const ticket = (joined['fallback'] as Offer).ticket;
        expect(verifyTicket(SECRET, ticket, b.node.id, Date.now(), { run: b.server.run, maxFallbackTtlMs: 3_700_000 })).toMatchObject({ cid: connectionId('carol', 'laptop'), fb: true });
        await until(() => a.server.stats().fallbackPending === 0, 'the offers to be sent');
        expect(a.server.stats().fallbackFrames).toBe(1);
        await b[Symbol.asyncDispose]();
        bOpen = false;
        // b is gone: nowhere to fall back to any more.
        const left = await early.client.take((f) => f['t'] === 'fallback', 10_000);
        expect(left).toEqual({ t: 'fallback' });
      } finally {
        if (bOpen) await b[Symbol.asyncDispose]();
      }
    } finally {
      await closeAll(opened);
    }
  });

  it('socket - an offer avoids the nodes the client names in exclude, and is not renewed when such a node leaves', async () => {
    await using ns = await natsServer();
    await using a = await socketNode(ns.url, { store: 'none' });
    await using c = await socketNode(ns.url, { store: 'none' });
    const b = await socketNode(ns.url, { store: 'none' });
    let bOpen = true;
    const opened: TestClient[] = [];
    try {
      await until(() => sees(a, b) && sees(a, c), 'node a to see b and c');
      const table = SocketTable.fromMembers(a.node.members());
      // Two devices whose fallback from a is b.
      const devices: string[] = [];
      for (let i = 0; devices.length < 2; i++) if (table.pick(connectionId('dave', `d${i}`), [a.node.id])?.id === b.node.id) devices.push(`d${i}`);
      const [avoiding, plain] = devices as [string, string];
      const opening = await tryOpen(`${a.server.url}?ticket=${encodeURIComponent(a.ticket('dave', avoiding))}&exclude=${b.node.id},no-such-node`, undefined);
      if (!(opening instanceof TestClient)) throw new Error(`upgrade refused: ${opening.status} ${opening.body}`);
      const avoider = opening;
      opened.push(avoider);
      expect(((await avoider.take((f) => f['t'] === 'welcome'))['fallback'] as Offer).node).toBe(c.node.id);
      const other = await welcomeOf(a, 'dave', plain);
      opened.push(other.client);
      expect((other.welcome['fallback'] as Offer).node).toBe(b.node.id);

      await b[Symbol.asyncDispose]();
      bOpen = false;
      // The plain one's offer named b: renewed for c. The avoider's already named c: nothing to send.
      expect((await other.client.take((f) => f['t'] === 'fallback', 10_000))['fallback']).toMatchObject({ node: c.node.id });
      await until(() => a.server.stats().fallbackPending === 0, 'the offers to be sent');
      expect(a.server.stats().fallbackFrames).toBe(1);
      expect(avoider.frames.filter((f) => f['t'] === 'fallback')).toEqual([]);
    } finally {
      await closeAll(opened);
      if (bOpen) await b[Symbol.asyncDispose]();
    }
  });

  it('socket - with fallbackTicketTtlMs 0 a node offers none and refuses fallback tickets', async () => {
    await using ns = await natsServer();
    await using a = await socketNode(ns.url, { store: 'none' });
    await using off = await socketNode(ns.url, { store: 'none', server: { fallbackTicketTtlMs: 0 } });
    await until(() => sees(a, off) && sees(off, a), 'the two nodes to see each other');
    const opened: TestClient[] = [];
    try {
      const fromOff = await welcomeOf(off, 'bob', 'laptop');
      opened.push(fromOff.client);
      expect(fromOff.welcome['fallback']).toBeUndefined();
      // a offers off (the only other node), but off takes no fallback tickets.
      const fromA = await welcomeOf(a, 'bob', 'phone');
      opened.push(fromA.client);
      const offer = fromA.welcome['fallback'] as Offer;
      expect(offer.node).toBe(off.node.id);
      const refused = await tryOpen(offer.socket.url, offer.ticket);
      if (refused instanceof TestClient) opened.push(refused);
      expect((refused as Refusal).status).toBe(401);
      expect(JSON.parse((refused as Refusal).body)).toMatchObject({ error: { problem: 'foreign', message: expect.stringMatching(/no fallback tickets/) } });
    } finally {
      await closeAll(opened);
    }
  });
  it('socket - a node starting a burst of sessions leaves the offer out of the welcome and sends it in a frame once the burst is over', async () => {
    await using ns = await natsServer();
    // No storage yet: each session's pending-commands ask waits for one, so sessions stay starting
    // (admission.ts) until it joins. At 2 starting, welcomes go without their offer.
    await using a = await socketNode(ns.url, { store: 'none', hostWaitMs: 60_000, server: { fallbackDeferStarting: 2, limits: { askTimeoutMs: 60_000 } } });
    await using b = await socketNode(ns.url, { store: 'none' });
    const opened: TestClient[] = [];
    try {
      await until(() => sees(a, b), 'node a to see node b as a socket server');
      const first = await welcomeOf(a, 'frank', 'laptop');
      opened.push(first.client);
      expect((first.welcome['fallback'] as Offer).node).toBe(b.node.id);
      const second = await welcomeOf(a, 'frank', 'phone');
      opened.push(second.client);
      expect(a.server.stats().starting).toBe(2);
      expect(second.welcome['fallback']).toBeUndefined();
      expect(a.server.stats()).toMatchObject({ fallbackDeferred: 1, fallbackPending: 1, fallbackFrames: 0 });

      // The storage joins, the sessions finish starting: the offer left out goes out in a frame.
      await using storage = await storageNode(ns.url);
      expect(storage.node.id).not.toBe(a.node.id);
      const later = await second.client.take((f) => f['t'] === 'fallback', 10_000);
      expect(later['fallback']).toMatchObject({ node: b.node.id, socket: { url: b.server.url } });
      const ticket = (later['fallback'] as Offer).ticket;
      expect(verifyTicket(SECRET, ticket, b.node.id, Date.now(), { run: b.server.run, maxFallbackTtlMs: 3_700_000 })).toMatchObject({ cid: connectionId('frank', 'phone'), fb: true });
      await until(() => a.server.stats().fallbackPending === 0, 'the deferred offer to be sent');
      expect(a.server.stats()).toMatchObject({ starting: 0, fallbackDeferred: 1, fallbackFrames: 1 });
      // The first one had its offer in its welcome: nothing more for it.
      expect(first.client.frames.filter((f) => f['t'] === 'fallback')).toEqual([]);
    } finally {
      await closeAll(opened);
    }
  });

  it("socket - an offer's spreadMs is the node's connections over the survivors' storm rate, and every connection gets a new offer when it doubles", async () => {
    await using ns = await natsServer();
    // A storm rate of 1 connection a second per survivor: spreadMs is 1,000 ms per connection of a.
    await using a = await socketNode(ns.url, { store: 'none', server: { stormRate: 1 } });
    await using b = await socketNode(ns.url, { store: 'none', server: { stormRate: 0 } });
    const opened: TestClient[] = [];
    const spreadOf = (offer: unknown): unknown => (offer as Offer & { spreadMs?: number }).spreadMs;
    try {
      await until(() => sees(a, b) && sees(b, a), 'the two nodes to see each other');
      const open = async (userId: string, deviceId: string): Promise<{ client: TestClient; welcome: Record<string, unknown> }> => {
        const c = await welcomeOf(a, userId, deviceId);
        opened.push(c.client);
        return c;
      };
      const c1 = await open('gina', 'd1');
      expect(spreadOf(c1.welcome['fallback'])).toBe(1_000);
      // Two connections: 2 s, twice what c1 holds, so c1 gets a new offer with it.
      const c2 = await open('gina', 'd2');
      expect(spreadOf(c2.welcome['fallback'])).toBe(2_000);
      const renewed = await c1.client.take((f) => f['t'] === 'fallback', 10_000);
      expect(renewed['fallback']).toMatchObject({ node: b.node.id, spreadMs: 2_000 });
      // Three: 3 s, not yet twice the 2 s everyone holds; four: 4 s, everyone again.
      const c3 = await open('gina', 'd3');
      expect(spreadOf(c3.welcome['fallback'])).toBe(3_000);
      const c4 = await open('hugo', 'd4');
      expect(spreadOf(c4.welcome['fallback'])).toBe(4_000);
      expect(a.server.stats().stormSpreadMs).toBe(4_000);
      for (const c of [c1, c2, c3]) {
        const frame = await c.client.take((f) => f['t'] === 'fallback' && spreadOf(f['fallback']) === 4_000, 10_000);
        expect(frame['fallback']).toMatchObject({ node: b.node.id });
      }
      // b has a storm rate of 0: its offers carry no spread.
      const onB = await welcomeOf(b, 'gina', 'd5');
      opened.push(onB.client);
      expect((onB.welcome['fallback'] as Offer).node).toBe(a.node.id);
      expect(onB.welcome['fallback']).not.toHaveProperty('spreadMs');
      expect(b.server.stats().stormSpreadMs).toBe(0);
    } finally {
      await closeAll(opened);
    }
  });
});
