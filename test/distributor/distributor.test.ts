/**
 * The distributor on the real runtime: a real nats-server, runtime nodes with role `socket` standing
 * in for socket servers (they announce socketHost/socketPort/socketUrl; no WebSocket is needed to be
 * allocated to), gateway nodes hosting the distributor actor, and real HTTP requests.
 */
import { SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import { connectionId } from '../../protocol/cluster/mod.js';
import { distributorKind, SocketTable, type AllocateResult, type StatusResult } from '../../actors/distributor/mod.js';
import { startDistributor, DistributorStartError, type DistributorServer } from '../../gateway/distributor/mod.js';
import { verifyTicket } from '../../gateway/ticket.js';
import type { ActorNode } from '../../runtime/mod.js';
import { natsServer } from '../kit/nats.js';
import { testNode, waitFor } from '../runtime/kit.js';

const JWT_SECRET = 'it-jwt-secret-0123456789abcdefghij';
const TICKET_SECRET = 'it-ticket-secret-0123456789abcdefg';

function socketMeta(i: number): Record<string, string | number> {
  const port = 9300 + i;
  return { socketHost: '127.0.0.1', socketPort: port, socketUrl: `ws://127.0.0.1:${port}/ws` };
}

function socketNode(natsUrl: string, i: number): Promise<ActorNode & AsyncDisposable> {
  return testNode(natsUrl, `sock-${i}`, [], { roles: ['socket'], meta: socketMeta(i) });
}

/** A gateway node with its distributor, both closed on dispose. */
async function gateway(natsUrl: string, name: string): Promise<{ node: ActorNode; server: DistributorServer } & AsyncDisposable> {
  const node = await testNode(natsUrl, name, [distributorKind], { roles: ['gateway'] });
  try {
    const server = await startDistributor(node, {
      host: '127.0.0.1',
      port: 0,
      ticketSecret: TICKET_SECRET,
      jwt: { secret: JWT_SECRET },
      devMode: true,
      rateLimit: { perUserPerSec: 0, perIpPerSec: 0 },
    });
    return {
      node,
      server,
      [Symbol.asyncDispose]: async () => {
        await server.close();
        await node.close();
      },
    };
  } catch (error) {
    await node.close();
    throw error;
  }
}

async function token(userId: string): Promise<string> {
  return new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject(userId).setExpirationTime('1h').sign(new TextEncoder().encode(JWT_SECRET));
}

interface ConnectAnswer {
  connectionId: string;
  node: string;
  socket: { host: string; port: number; url: string };
  ticket: string;
  expiresAt: number;
}

async function connectVia(url: string, userId: string, deviceId: string, tok: string, exclude?: string[]): Promise<{ status: number; headers: Headers; body: ConnectAnswer & { error?: { code: string } } }> {
  const res = await fetch(`${url}/v1/connect`, {
    method: 'POST',
    headers: { authorization: `Bearer ${tok}`, 'content-type': 'application/json' },
    body: JSON.stringify(exclude === undefined ? { userId, deviceId } : { userId, deviceId, exclude }),
  });
  return { status: res.status, headers: res.headers, body: (await res.json()) as ConnectAnswer & { error?: { code: string } } };
}

async function healthOf(url: string): Promise<{ status: number; socketServers: number | undefined }> {
  const res = await fetch(`${url}/healthz`);
  const body = (await res.json()) as { socketServers?: number };
  return { status: res.status, socketServers: body.socketServers };
}

function waitSocketServers(url: string, n: number): Promise<true> {
  return waitFor(`${url} to see ${n} socket servers`, async () => (await healthOf(url)).socketServers === n || undefined, 20_000);
}

const nodeOfPort = (port: number): string => `sock-${port - 9300}`;

describe('distributor on the runtime', () => {
  it('determinism - two distributors over the same socket members give the same id and server; tickets verify for that node', async () => {
    await using ns = await natsServer({ jetstream: false });
    await using s0 = await socketNode(ns.url, 0);
    await using s1 = await socketNode(ns.url, 1);
    await using s2 = await socketNode(ns.url, 2);
    await using a = await gateway(ns.url, 'gw-a');
    await using b = await gateway(ns.url, 'gw-b');
    await waitSocketServers(a.server.url, 3);
    await waitSocketServers(b.server.url, 3);
    const expected = SocketTable.fromMembers(a.node.members());
    const used = new Set<string>();
    for (let u = 0; u < 10; u++) {
      const userId = `user-${u}`;
      const tok = await token(userId);
      for (let d = 0; d < 6; d++) {
        const deviceId = `device-${d}`;
        const [fromA, fromB] = await Promise.all([connectVia(a.server.url, userId, deviceId, tok), connectVia(b.server.url, userId, deviceId, tok)]);
        expect(fromA.status).toBe(200);
        expect(fromB.status).toBe(200);
        const cid = connectionId(userId, deviceId);
        expect(fromA.body.connectionId).toBe(cid);
        expect(fromB.body.connectionId).toBe(cid);
        expect(fromB.body.socket).toEqual(fromA.body.socket);
        const node = nodeOfPort(fromA.body.socket.port);
        expect(expected.pick(cid)?.id).toBe(node);
        expect(fromA.body.node).toBe(node);
        expect(fromB.body.node).toBe(node);
        used.add(node);
        if (d < 2) {
          // With the chosen node excluded both distributors still agree, on another node.
          const [exA, exB] = await Promise.all([connectVia(a.server.url, userId, deviceId, tok, [node]), connectVia(b.server.url, userId, deviceId, tok, [node])]);
          expect(exA.status).toBe(200);
          expect(exA.body.node).not.toBe(node);
          expect(exB.body.node).toBe(exA.body.node);
          expect(exB.body.socket).toEqual(exA.body.socket);
          expect(nodeOfPort(exA.body.socket.port)).toBe(exA.body.node);
          expect(expected.pick(cid, [node])?.id).toBe(exA.body.node);
        }
        for (const answer of [fromA.body, fromB.body]) {
          const claims = verifyTicket(TICKET_SECRET, answer.ticket, node, Date.now());
          expect(claims).toMatchObject({ cid, uid: userId, did: deviceId, node, exp: answer.expiresAt });
        }
      }
    }
    expect(used.size).toBe(3);
    // Any actor may ask a distributor, over NATS from another node: same answer as the HTTP layer.
    const ref = { kind: 'distributor', id: 'gw-a', node: 'gw-a' };
    const cid = connectionId('user-0', 'device-0');
    const asked = await s0.ask<AllocateResult>(ref, { type: 'allocate', connectionId: cid });
    expect(asked.ok && asked.server.id).toBe(expected.pick(cid)?.id);
    const askedEx = await s0.ask<AllocateResult>(ref, { type: 'allocate', connectionId: cid, exclude: [expected.pick(cid)!.id] });
    expect(askedEx.ok && askedEx.server.id).toBe(expected.pick(cid, [expected.pick(cid)!.id])?.id);
    expect(askedEx.ok && askedEx.server.id).not.toBe(expected.pick(cid)?.id);
    const status = await s1.ask<StatusResult>(ref, { type: 'status' });
    expect(status.socketServers).toBe(3);
    expect(status.servers.map((x) => x.id).sort()).toEqual(['sock-0', 'sock-1', 'sock-2']);
  });

  it('membership - draining nodes get no new connections, a joining node takes ~1/N, a leaving one is dropped, none left is 503', async () => {
    await using ns = await natsServer({ jetstream: false });
    // close() is idempotent: the test closes nodes itself, disposal covers a failure.
    await using s0 = await socketNode(ns.url, 0);
    await using s1 = await socketNode(ns.url, 1);
    await using gw = await gateway(ns.url, 'gw');
    const url = gw.server.url;
    await waitSocketServers(url, 2);
    const tok = await token('mover');
    const devices = Array.from({ length: 60 }, (_, i) => `d${i}`);
    const allocate = async (): Promise<string[]> => {
      const out: string[] = [];
      for (const d of devices) {
        const a = await connectVia(url, 'mover', d, tok);
        expect(a.status).toBe(200);
        out.push(nodeOfPort(a.body.socket.port));
      }
      return out;
    };
    const initial = await allocate();
    expect(new Set(initial).size).toBe(2);

    // Draining: sock-0 takes nothing new; ids on sock-1 stay where they were.
    s0.announce({ draining: true });
    await waitSocketServers(url, 1);
    const drained = await allocate();
    expect(new Set(drained)).toEqual(new Set(['sock-1']));
    // Back from draining: the same set again gives the same allocation.
    s0.announce({ draining: false });
    await waitSocketServers(url, 2);
    expect(await allocate()).toEqual(initial);

    // A third node joins: only ids that move to it move.
    await using s2 = await socketNode(ns.url, 2);
    await waitSocketServers(url, 3);
    const joined = await allocate();
    const moved = joined.filter((n, i) => n !== initial[i]);
    expect(moved.every((n) => n === 'sock-2')).toBe(true);
    expect(moved.length).toBeGreaterThan(0);
    expect(moved.length).toBeLessThan(devices.length * 0.6);

    // Leaving nodes are dropped; with none left, 503 with Retry-After.
    await s2.close();
    await s0.close();
    await s1.close();
    await waitFor('healthz to report no socket server', async () => (await healthOf(url)).status === 503 || undefined, 20_000);
    const none = await connectVia(url, 'mover', 'd0', tok);
    expect(none.status).toBe(503);
    expect(none.body.error?.code).toBe('unavailable');
    expect(Number(none.headers.get('retry-after'))).toBeGreaterThan(0);
  });

  it('lifecycle - a node without the distributor kind is refused with advice; a stopped actor means 503; close stops serving', async () => {
    await using ns = await natsServer({ jetstream: false });
    await using plain = await testNode(ns.url, 'plain', [], { roles: ['gateway'] });
    await expect(
      startDistributor(plain, { host: '127.0.0.1', port: 0, ticketSecret: TICKET_SECRET, jwt: { secret: JWT_SECRET }, devMode: false }),
    ).rejects.toThrow(DistributorStartError);
    await using sock = await socketNode(ns.url, 0);
    await using gw = await gateway(ns.url, 'gw-close');
    const url = gw.server.url;
    await waitSocketServers(url, 1);
    const tok = await token('stopper');
    expect((await connectVia(url, 'stopper', 'd', tok)).status).toBe(200);
    // The actor gone (stopped, or failed for good): no allocation from a table nobody updates.
    await gw.node.stop({ kind: 'distributor', id: 'gw-close', node: 'gw-close' });
    const stopped = await connectVia(url, 'stopper', 'd', tok);
    expect(stopped.status).toBe(503);
    expect(stopped.body.error?.code).toBe('unavailable');
    const health = await fetch(`${url}/healthz`);
    expect(health.status).toBe(503);
    expect(((await health.json()) as { status: string }).status).toBe('starting');
    await sock.close();
    await gw.server.close();
    await expect(fetch(`${url}/healthz`)).rejects.toThrow();
  });
});
