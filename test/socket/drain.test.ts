import { describe, expect, it } from 'vitest';
import { natsServer } from '../kit/nats.js';
import { CloseCode } from '../../gateway/socket/mod.js';
import { closeAll, socketNode, tryOpen, until, TestClient, type Frame } from './kit.js';

describe('socket - drain', () => {
  it('socket - drain tells clients to move at spread-out moments, answers in-flight requests, then closes', async () => {
    await using ns = await natsServer();
    const spreadMs = 1_600;
    await using sn = await socketNode(ns.url, { store: 'fake', server: { drainSpreadMs: spreadMs, drainGraceMs: 5_000, limits: { askTimeoutMs: 1_000 } } });
    const clients: TestClient[] = [];
    try {
      for (let i = 0; i < 8; i++) clients.push(await sn.client(`user-${i}`, 'laptop'));
      const busy = clients[0]!;
      // A request still waiting for the store when the drain starts (the store never answers it;
      // the ask deadline turns it into an error answer): the close waits for that answer. The store
      // answers in order, so the pull's answer means the commit is in flight.
      busy.send({ t: 'commit', id: 7, collection: 'fail-silent', changes: [] });
      await busy.request({ t: 'pull', id: 8, collection: 'c', since: 0 });
      const lateTicket = sn.ticket('late', 'laptop');

      const started = Date.now();
      const drained = sn.server.drain();
      await until(() => sn.node.members().find((m) => m.nodeId === sn.node.id)?.draining === true, 'the node announced draining');
      const refused = await tryOpen(sn.server.url, lateTicket);
      if (refused instanceof TestClient) clients.push(refused);
      expect(refused instanceof TestClient ? 'opened' : refused.status).toBe(503);

      const closes = await Promise.all(clients.map((c) => c.closed));
      await drained;
      const elapsed = Date.now() - started;
      expect(closes.every((c) => c.code === CloseCode.draining)).toBe(true);
      expect(sn.server.stats().connections).toBe(0);

      const drainAt: number[] = [];
      for (const c of clients) {
        const i = c.frames.findIndex((f: Frame) => f['t'] === 'drain');
        expect(i, 'every client got a drain frame').toBeGreaterThanOrEqual(0);
        const retry = c.frames[i]!['retryAfterMs'];
        expect(typeof retry === 'number' && retry >= 0 && retry <= 1_000).toBe(true);
        drainAt.push(c.receivedAt[i]! - started);
      }
      drainAt.sort((a, b) => a - b);
      // Uniform over the spread: 8 slots 200 ms apart, the first at once.
      expect(drainAt[0]!).toBeLessThan(500);
      expect(drainAt[7]! - drainAt[0]!).toBeGreaterThan(spreadMs * 0.6);
      expect(new Set(drainAt.map((t) => Math.floor(t / 100))).size).toBeGreaterThanOrEqual(6); // not bunched
      // The busy client got its answer after the drain frame, before the close.
      const answer = busy.frames.findIndex((f) => f['id'] === 7);
      expect(busy.frames[answer]).toMatchObject({ t: 'error', id: 7, code: 'internal' });
      expect(answer).toBeGreaterThan(busy.frames.findIndex((f) => f['t'] === 'drain'));
      expect(elapsed).toBeLessThan(spreadMs + 5_000);
    } finally {
      await closeAll(clients);
    }
  });
});
