import { describe, expect, it } from 'vitest';
import { natsServer } from '../kit/nats.js';
import { CloseCode } from '../../gateway/socket/mod.js';
import { closeAll, socketNode, until, TestClient } from './kit.js';

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
});
