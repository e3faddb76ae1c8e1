import { describe, expect, it } from 'vitest';
import { natsServer } from '../kit/nats.js';
import { connectionId } from '../../protocol/cluster/mod.js';
import { signTicket } from '../../gateway/ticket.js';
import { closeAll, SECRET, socketNode, TestClient, tryOpen, type Refusal } from './kit.js';

function isRefusal(r: TestClient | Refusal): r is Refusal {
  return !(r instanceof TestClient);
}

describe('socket - upgrade and welcome', () => {
  it('socket - refuses missing, malformed, forged, expired, foreign and replayed tickets with 401 and no socket', async () => {
    await using ns = await natsServer();
    await using sn = await socketNode(ns.url);
    const url = sn.server.url;
    const opened: TestClient[] = [];
    try {
      const cases: [string, string | undefined][] = [
        ['missing', undefined],
        ['malformed', 'not-a-ticket'],
        ['forged', sn.ticket('alice', 'laptop', { secret: 'another-secret' })],
        ['expired', sn.ticket('alice', 'laptop', { exp: Date.now() - 1 })],
        ['foreign', sn.ticket('alice', 'laptop', { node: 'some-other-node' })],
      ];
      for (const [problem, ticket] of cases) {
        const r = await tryOpen(url, ticket);
        if (!isRefusal(r)) opened.push(r);
        expect(isRefusal(r), `${problem} ticket must be refused`).toBe(true);
        const { status, body } = r as Refusal;
        expect(status).toBe(401);
        expect(JSON.parse(body)).toMatchObject({ error: { code: 'unauthorized', problem } });
      }
      // A ticket whose connection id does not belong to its user is refused too (push routing trusts it).
      const mismatched = signTicket(SECRET, { cid: connectionId('mallory', 'x'), uid: 'alice', did: 'laptop', node: sn.node.id, run: sn.server.run, exp: Date.now() + 30_000 });
      const m = await tryOpen(url, mismatched);
      expect(isRefusal(m) && m.status).toBe(401);

      // Replayed: the first use opens, the second is refused.
      const ticket = sn.ticket('alice', 'laptop');
      const first = await TestClient.open(url, ticket);
      opened.push(first);
      const again = await tryOpen(url, ticket);
      if (!isRefusal(again)) opened.push(again);
      expect(isRefusal(again) && again.status).toBe(401);
      expect(JSON.parse((again as Refusal).body)).toMatchObject({ error: { problem: 'replayed' } });
      expect(sn.server.stats().refused).toBe(7);
      expect(sn.server.stats().connections).toBe(1);
    } finally {
      await closeAll(opened);
    }
  });

  it('socket - sends welcome with the connection id, node and storage epoch right after open', async () => {
    await using ns = await natsServer();
    await using sn = await socketNode(ns.url);
    const c = await TestClient.open(sn.server.url, sn.ticket('alice', 'laptop'));
    try {
      const welcome = await c.take((f) => f['t'] === 'welcome');
      expect(welcome).toEqual({ t: 'welcome', connectionId: connectionId('alice', 'laptop'), node: sn.node.id, epoch: expect.stringMatching(/^sm-index@/) });
      expect(c.frames[0]).toBe(welcome); // the first frame of the connection
    } finally {
      await closeAll([c]);
    }
  });

  it('socket - announces host, port, url and capacity for the distributor, and answers healthz', async () => {
    await using ns = await natsServer();
    await using sn = await socketNode(ns.url, { server: { capacity: 3 } });
    const self = sn.node.members().find((m) => m.nodeId === sn.node.id);
    expect(self?.roles).toContain('socket');
    expect(self?.meta).toMatchObject({ socketHost: '127.0.0.1', socketPort: sn.server.port, socketUrl: sn.server.url, capacity: 3 });
    expect(sn.server.url).toBe(`ws://127.0.0.1:${sn.server.port}/ws`);
    const health = await fetch(`http://127.0.0.1:${sn.server.port}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({ status: 'ok', node: sn.node.id, connections: 0 });
    expect((await fetch(`http://127.0.0.1:${sn.server.port}/nope`)).status).toBe(404);
  });
});
