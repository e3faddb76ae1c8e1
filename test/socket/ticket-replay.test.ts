/**
 * Tickets are single-use across the whole cluster and across restarts (gateway/socket/used-tickets.ts):
 * a real nats-server with JetStream, socket nodes in their own processes, kill -9.
 */
import { describe, expect, it } from 'vitest';
import { connect } from '@nats-io/transport-node';
import { Kvm } from '@nats-io/kv';
import { natsServer } from '../kit/nats.js';
import { childSocketNode } from './child.js';
import { closeAll, socketNode, TestClient, tryOpen, type Refusal } from './kit.js';

function refusal(r: TestClient | Refusal): Refusal {
  if (r instanceof TestClient) {
    r.terminate();
    throw new Error('the upgrade opened a WebSocket; it had to be refused');
  }
  return r;
}

describe('socket - tickets are single-use cluster-wide and across restarts', () => {
  it('tickets - a used ticket is refused (401 replayed) by the same node after kill -9 and restart; a fresh ticket still opens', async () => {
    await using ns = await natsServer();
    const nodeId = 'replay-node';
    const first = await childSocketNode(ns.url, { nodeId, store: false });
    const ticket = first.ticket('alice', 'laptop');
    const c = await TestClient.open(first.url, ticket);
    await c.take((f) => f['t'] === 'welcome');
    await closeAll([c]);
    // Same process: refused from memory.
    expect(refusal(await tryOpen(first.url, ticket)).status).toBe(401);

    first.process.kill('SIGKILL');
    await first.terminate();
    await using second = await childSocketNode(ns.url, { nodeId, store: false });
    expect(second.nodeId).toBe(nodeId);
    const again = refusal(await tryOpen(second.url, ticket));
    expect(again.status).toBe(401);
    expect(JSON.parse(again.body)).toMatchObject({ error: { code: 'unauthorized', problem: 'replayed', message: expect.stringMatching(/already used/) as unknown } });
    const fresh = await second.client('alice', 'laptop');
    await closeAll([fresh]);
  });

  it('tickets - the used-ticket bucket keeps ids as long as a ticket can live (max_age = ticket TTL + skew), and a ticket that lives longer is refused', async () => {
    await using ns = await natsServer();
    await using sn = await socketNode(ns.url, { store: 'none', server: { ticketTtlMs: 20_000 } });
    const nc = await connect({ servers: ns.url });
    try {
      const status = await (await new Kvm(nc).open('sm_tickets')).status();
      expect(status.ttl).toBe(30_000);
      expect(status.history).toBe(1);
      // A ticket valid for 60 s would outlive its id in the bucket: refused whatever its signature.
      const long = refusal(await tryOpen(sn.server.url, sn.ticket('bob', 'phone', { exp: Date.now() + 60_000 })));
      expect(long.status).toBe(401);
      expect(JSON.parse(long.body)).toMatchObject({ error: { problem: 'malformed', message: expect.stringMatching(/--ticket-ttl-ms/) as unknown } });
      // A used ticket's id is in the bucket.
      const ok = await TestClient.open(sn.server.url, sn.ticket('bob', 'phone', { exp: Date.now() + 20_000 }));
      await closeAll([ok]);
      expect((await (await new Kvm(nc).open('sm_tickets')).status()).values).toBe(1);
    } finally {
      await nc.close();
    }
  });

  it('tickets - when JetStream cannot record the ticket the upgrade is refused with 503 (fail closed), and works again once it can', async () => {
    await using ns = await natsServer();
    await using sn = await socketNode(ns.url, { store: 'none' });
    const nc = await connect({ servers: ns.url });
    try {
      // Take the bucket away: the create-only write now fails, and the node must not admit the ticket.
      const jsm = await (await import('@nats-io/jetstream')).jetstreamManager(nc);
      await jsm.streams.delete('KV_sm_tickets');
      const r = refusal(await tryOpen(sn.server.url, sn.ticket('carol', 'tab')));
      expect(r.status).toBe(503);
      expect(JSON.parse(r.body)).toMatchObject({ error: { code: 'unavailable', message: expect.stringMatching(/retry through the distributor/) as unknown } });
      await new Kvm(nc).create('sm_tickets', { history: 1, ttl: 40_000 });
      const c = await TestClient.open(sn.server.url, sn.ticket('carol', 'tab'));
      await closeAll([c]);
    } finally {
      await nc.close();
    }
  });
});
