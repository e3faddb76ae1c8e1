/**
 * Tickets are single use, also across restarts: a ticket names one run of one socket node
 * (gateway/ticket.ts), the node remembers used ticket ids in memory for as long as a ticket can live,
 * and a restarted node is a new run that refuses every ticket of the earlier one. Real nats-server,
 * socket nodes in their own processes, kill -9.
 */
import { describe, expect, it } from 'vitest';
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

describe('socket - tickets are single use, also across restarts', () => {
  it('tickets - a used ticket is refused (replayed) by its node, and after kill -9 and restart (another run); a fresh ticket opens', async () => {
    await using ns = await natsServer();
    const nodeId = 'replay-node';
    const first = await childSocketNode(ns.url, { nodeId, store: false });
    const ticket = first.ticket('alice', 'laptop');
    const c = await TestClient.open(first.url, ticket);
    await c.take((f) => f['t'] === 'welcome');
    await closeAll([c]);
    const replayed = refusal(await tryOpen(first.url, ticket));
    expect(replayed.status).toBe(401);
    expect(JSON.parse(replayed.body)).toMatchObject({ error: { code: 'unauthorized', problem: 'replayed', message: expect.stringMatching(/already used/) as unknown } });

    first.process.kill('SIGKILL');
    await first.terminate();
    await using second = await childSocketNode(ns.url, { nodeId, store: false });
    expect(second.nodeId).toBe(nodeId);
    const again = refusal(await tryOpen(second.url, ticket));
    expect(again.status).toBe(401);
    expect(JSON.parse(again.body)).toMatchObject({ error: { code: 'unauthorized', problem: 'foreign', message: expect.stringMatching(/earlier run of this socket server/) as unknown } });
    const fresh = await second.client('alice', 'laptop');
    await closeAll([fresh]);
  });

  it('tickets - a ticket naming no run, or living longer than the replay memory, is refused', async () => {
    await using ns = await natsServer();
    await using sn = await socketNode(ns.url, { store: 'none', server: { ticketTtlMs: 20_000 } });
    const none = refusal(await tryOpen(sn.server.url, sn.ticket('bob', 'phone', { run: null, exp: Date.now() + 20_000 })));
    expect(none.status).toBe(401);
    expect(JSON.parse(none.body)).toMatchObject({ error: { problem: 'foreign', message: expect.stringMatching(/upgrade the gateways/) as unknown } });
    // A ticket valid for 60 s would outlive its id in the node's memory (20 s + 5 s of clock skew): refused.
    const long = refusal(await tryOpen(sn.server.url, sn.ticket('bob', 'phone', { exp: Date.now() + 60_000 })));
    expect(long.status).toBe(401);
    expect(JSON.parse(long.body)).toMatchObject({ error: { problem: 'malformed', message: expect.stringMatching(/--ticket-ttl-ms/) as unknown } });
    const ok = await TestClient.open(sn.server.url, sn.ticket('bob', 'phone', { exp: Date.now() + 20_000 }));
    await closeAll([ok]);
  });
});
