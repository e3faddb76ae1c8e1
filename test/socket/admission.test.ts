import { describe, expect, it } from 'vitest';
import { natsServer } from '../kit/nats.js';
import { closeAll, socketNode, storageNode, TestClient, tryOpen, until, type Refusal } from './kit.js';

describe('socket - admission control', () => {
  it('socket - sheds upgrades with 503 and Retry-After while maxStartingSessions sessions are starting, and admits again once they started', async () => {
    await using ns = await natsServer();
    // No storage node yet: each session's pending-commands ask waits for one (hostWaitMs), so the
    // sessions stay starting (welcomed, their start not finished) until the storage joins.
    await using sn = await socketNode(ns.url, { store: 'none', hostWaitMs: 60_000, server: { maxStartingSessions: 3, limits: { askTimeoutMs: 60_000 } } });
    const open: TestClient[] = [];
    try {
      for (const device of ['a', 'b', 'c']) open.push(await sn.client(`user-${device}`, device));
      expect(sn.server.stats().starting).toBe(3);

      const ticket = sn.ticket('user-d', 'd');
      const shed = (await tryOpen(sn.server.url, ticket)) as Refusal;
      if (shed instanceof TestClient) open.push(shed);
      expect(shed).not.toBeInstanceOf(TestClient);
      expect(shed.status).toBe(503);
      expect(shed.retryAfter).toBe('1');
      expect(JSON.parse(shed.body)).toMatchObject({ error: { code: 'unavailable', message: expect.stringContaining('starting 3 sessions') } });
      expect(sn.server.stats()).toMatchObject({ shed: 1, starting: 3, connections: 3 });

      // A socket that closes while starting frees its place; the shed upgrade's ticket was not used up
      // (admission comes before the ticket check), so the same ticket opens now.
      const gone = open.shift()!;
      gone.ws.close();
      await gone.closed;
      await until(() => sn.server.stats().starting === 2, 'the closed socket to leave the starting count');
      const d = await TestClient.open(sn.server.url, ticket);
      open.push(d);
      await d.take((f) => f['t'] === 'welcome');
      expect(sn.server.stats().starting).toBe(3);

      // The storage joins: the waiting asks are answered, every session has started, upgrades pass again.
      await using storage = await storageNode(ns.url);
      expect(storage.node.id).not.toBe(sn.node.id);
      await until(() => sn.server.stats().starting === 0, 'the starting sessions to get their pending commands', 20_000);
      open.push(await sn.client('user-e', 'e'));
      await until(() => sn.server.stats().starting === 0, 'the new session to start');
      expect(sn.server.stats()).toMatchObject({ shed: 1, connections: 4 });
    } finally {
      await closeAll(open);
    }
  });
});
