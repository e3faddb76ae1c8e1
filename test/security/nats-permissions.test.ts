/**
 * NATS security of the local cluster (`npm start`'s program, one NATS user per role, docs/security.md
 * "NATS accounts and permissions"): anonymous connections are refused; each role's user is refused
 * outside its permissions (publish, subscribe, JetStream API: stream delete, purge, update, other
 * roles' streams); and a membership announcement forged with a non-socket user does not make the
 * distributor send clients anywhere, while the same announcement by the socket user does (the
 * control that shows the check can fail).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import type { Status } from '@nats-io/nats-core';
import { jetstreamManager } from '@nats-io/jetstream';
import { natsConnectionOptions } from '../../gateway/nats/mod.js';
import { encode } from '../../protocol/mod.js';
import { localCluster, type LocalCluster } from '../kit/cluster.js';
import { connectRequest, devToken } from '../kit/device.js';

let cluster: LocalCluster;
const conns: NatsConnection[] = [];

async function as(role: string): Promise<NatsConnection> {
  const nc = await connect({ ...(await natsConnectionOptions({ servers: [cluster.state.nats], roles: [role], nkeyFile: cluster.state.natsSeeds![role]! })), timeout: 30_000 });
  conns.push(nc);
  return nc;
}

/** Resolves with the permission error the server sent for `op` on `subject`, or 'none' after a deadline. */
function refusalOf(nc: NatsConnection, op: 'publish' | 'subscription', subject: string, timeoutMs = 10_000): Promise<string> {
  return new Promise((resolve) => {
    const status = nc.status() as AsyncIterable<Status> & { stop: () => void };
    const timer = setTimeout(() => {
      status.stop();
      resolve('none');
    }, timeoutMs);
    void (async () => {
      for await (const s of status) {
        const e = s.type === 'error' ? (s.error as Error & { operation?: string; subject?: string }) : undefined;
        if (e?.name === 'PermissionViolationError' && e.operation === op && e.subject === subject) {
          clearTimeout(timer);
          status.stop();
          resolve(e.message);
          return;
        }
      }
    })();
  });
}

/** The server's refusal, or 'none' when none came within `timeoutMs` (generous: a refusal comes at once, even on a busy machine). */
async function publishRefused(nc: NatsConnection, subject: string, timeoutMs = 10_000): Promise<string> {
  const refused = refusalOf(nc, 'publish', subject, timeoutMs);
  nc.publish(subject, encode({ t: 'forged' }));
  await nc.flush();
  return refused;
}

async function subscribeRefused(nc: NatsConnection, subject: string): Promise<string> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve('none'), 10_000);
    nc.subscribe(subject, {
      callback: (err) => {
        if (err) {
          clearTimeout(timer);
          resolve(`${err.name}: ${err.message}`);
        }
      },
    });
  });
}

/** A JetStream API call: its error text (refused), or 'allowed' when the server answered it. */
async function apiCall(nc: NatsConnection, subject: string, body: unknown = {}): Promise<string> {
  try {
    const m = await nc.request(subject, JSON.stringify(body), { timeout: 10_000 });
    const answer = m.json<{ error?: { description?: string } }>();
    return answer.error ? `answered with error: ${answer.error.description}` : 'allowed';
  } catch (err) {
    return `${(err as Error).name}: ${(err as Error).message}`;
  }
}

beforeAll(async () => {
  cluster = await localCluster({ socketNodes: 1, timeoutMs: 90_000 });
}, 120_000);

afterAll(async () => {
  for (const nc of conns) await nc.close().catch(() => undefined);
  await cluster?.[Symbol.asyncDispose]();
}, 60_000);

describe('security - NATS users and permissions of the local cluster', () => {
  it('security - an anonymous NATS connection is refused', async () => {
    const err = await connect({ servers: cluster.state.nats, reconnect: false }).then(
      async (nc) => {
        await nc.close();
        return 'connected';
      },
      (e: unknown) => `${(e as Error).name}: ${(e as Error).message}`,
    );
    expect(err).toMatch(/Authorization/i);
    // A made-up key is refused as well.
    const wrong = await connect({ servers: cluster.state.nats, reconnect: false, user: 'storage', pass: 'guess' }).then(
      async (nc) => {
        await nc.close();
        return 'connected';
      },
      (e: unknown) => String(e),
    );
    expect(wrong).toMatch(/Authorization/i);
  });

  it('security - a socket node cannot read or write storage subjects, nor use the storage streams', async () => {
    const socket = await as('socket');
    expect(await subscribeRefused(socket, 'sm.rec.>')).toMatch(/Permissions Violation/i);
    expect(await subscribeRefused(socket, 'sm.dcmd.>')).toMatch(/Permissions Violation/i);
    expect(await subscribeRefused(socket, '_INBOX.storage.>')).toMatch(/Permissions Violation/i);
    expect(await subscribeRefused(socket, '>')).toMatch(/Permissions Violation/i);
    expect(await publishRefused(socket, 'sm.rec.0123.Yw.Yw')).toMatch(/Permissions Violation/i);
    expect(await apiCall(socket, '$JS.API.DIRECT.GET.sm-records', { last_by_subj: 'sm.rec.>' })).toMatch(/Permissions Violation/i);
    expect(await apiCall(socket, '$JS.API.DIRECT.GET.sm-index', { last_by_subj: 'sm.idx.>' })).toMatch(/Permissions Violation/i);
    expect(await apiCall(socket, '$JS.API.STREAM.MSG.GET.sm-devcmds', { seq: 1 })).toMatch(/Permissions Violation/i);
    expect(await apiCall(socket, '$JS.API.STREAM.INFO.sm-devcmds')).toMatch(/Permissions Violation/i);
    expect(await apiCall(socket, '$JS.API.CONSUMER.CREATE.sm-records', { stream_name: 'sm-records', config: { ack_policy: 'none' } })).toMatch(/Permissions Violation/i);
    // Its own bucket works.
    expect(await apiCall(socket, '$JS.API.STREAM.INFO.KV_sm_cluster')).toBe('allowed');
  });

  it('security - no role may delete, purge or reshape streams; only storage reaches the storage streams', async () => {
    const storage = await as('storage');
    for (const role of ['storage', 'push', 'socket', 'gateway']) {
      const nc = role === 'storage' ? storage : await as(role);
      for (const stream of ['sm-records', 'sm-index', 'sm-devcmds', 'KV_sm_leases', 'KV_sm_cluster']) {
        expect(await apiCall(nc, `$JS.API.STREAM.DELETE.${stream}`), `${role} deletes ${stream}`).toMatch(/Permissions Violation/i);
        expect(await apiCall(nc, `$JS.API.STREAM.PURGE.${stream}`), `${role} purges ${stream}`).toMatch(/Permissions Violation/i);
      }
      expect(await apiCall(nc, '$JS.API.STREAM.UPDATE.sm-records', { name: 'sm-records', subjects: ['>'] }), `${role} updates sm-records`).toMatch(/Permissions Violation/i);
      expect(await apiCall(nc, '$JS.API.STREAM.CREATE.evil', { name: 'evil', subjects: ['sm.push.>'] }), `${role} creates a stream of its own`).toMatch(/Permissions Violation/i);
      if (role !== 'storage') {
        expect(await publishRefused(nc, 'sm.dcmd.0123.4567'), `${role} writes a command`).toMatch(/Permissions Violation/i);
        expect(await apiCall(nc, '$JS.API.STREAM.INFO.sm-records'), `${role} reads sm-records`).toMatch(/Permissions Violation/i);
        // Socket nodes read the index stream's info (its creation time is the storage epoch of `welcome`), never its contents.
        if (role === 'socket') expect(await apiCall(nc, '$JS.API.STREAM.INFO.sm-index')).toBe('allowed');
        else expect(await apiCall(nc, '$JS.API.STREAM.INFO.sm-index'), `${role} reads sm-index`).toMatch(/Permissions Violation/i);
      }
    }
    // Everything is still there, and the storage user reaches its streams.
    const jsm = await jetstreamManager(storage, { checkAPI: false });
    for (const s of ['sm-records', 'sm-index', 'sm-devcmds', 'KV_sm_leases', 'KV_sm_cluster']) expect((await jsm.streams.info(s)).config.name).toBe(s);
    // Leases are removed by sequence, by their owners only (a sequence no message has: nothing is lost).
    const nowhere = { seq: 1e12 };
    // (Allowed: nats-server looks for the message and answers that there is none.)
    expect(await apiCall(storage, '$JS.API.STREAM.MSG.DELETE.KV_sm_leases', nowhere)).toMatch(/stream store EOF|no message found/i);
    expect(await apiCall(await as('socket'), '$JS.API.STREAM.MSG.DELETE.KV_sm_leases', nowhere)).toMatch(/Permissions Violation/i);
    expect(await apiCall(await as('gateway'), '$JS.API.STREAM.MSG.DELETE.KV_sm_leases', nowhere)).toMatch(/Permissions Violation/i);
    expect(await apiCall(await as('push'), '$JS.API.STREAM.MSG.DELETE.KV_sm_cluster', nowhere)).toMatch(/Permissions Violation/i);
  });

  it('security - a gateway or push user cannot subscribe to pushes, and only push and socket publish them; quota messages are socket-only', async () => {
    const gateway = await as('gateway');
    const push = await as('push');
    expect(await subscribeRefused(gateway, 'sm.push.>')).toMatch(/Permissions Violation/i);
    expect(await subscribeRefused(push, 'sm.push.>')).toMatch(/Permissions Violation/i);
    expect(await publishRefused(gateway, 'sm.push.all')).toMatch(/Permissions Violation/i);
    expect(await publishRefused(push, 'sm.push.all', 2_000)).toBe('none');
    expect(await apiCall(gateway, '$JS.API.STREAM.INFO.KV_sm_leases')).toMatch(/Permissions Violation/i);
    // The connection quota's messages are between socket nodes only.
    for (const nc of [gateway, push]) {
      expect(await subscribeRefused(nc, 'sm.quota.>')).toMatch(/Permissions Violation/i);
      expect(await publishRefused(nc, 'sm.quota.socket-1')).toMatch(/Permissions Violation/i);
    }
  });

  it('security - a socket-node announcement forged with a non-socket user does not redirect /v1/connect; the socket user can announce one', async () => {
    const health = async (): Promise<number> => ((await (await fetch(`${cluster.url}/healthz`)).json()) as { socketServers: number }).socketServers;
    expect(await health()).toBe(1);
    const evilUrl = 'ws://attacker.invalid:4444/ws';
    const forged = (t: 'hb' | 'leave'): Uint8Array =>
      encode({ t, id: 'evil-socket', roles: ['socket'], kinds: ['session'], meta: { socketHost: 'attacker.invalid', socketPort: 4444, socketUrl: evilUrl, capacity: 1000 }, draining: false, startedAt: 1 });
    // One connect per user per round: the distributor allows each user 20 per second.
    const users = await Promise.all(Array.from({ length: 24 }, async (_, i) => ({ userId: `forge-${Date.now()}-${i}`, token: '' })));
    for (const u of users) u.token = await devToken(cluster.url, u.userId);
    const urls = async (): Promise<string[]> => Promise.all(users.map(async (u) => (await connectRequest(cluster.url, u.token, u.userId, 'd')).socket.url));

    for (const role of ['push', 'storage', 'gateway']) {
      const nc = await as(role);
      // On its own subject the server lets it through, but the roles do not match the subject: dropped by every node.
      nc.publish(`sm.hb.${role}`, forged('hb'));
      // On the socket subject the server refuses it.
      expect(await publishRefused(nc, 'sm.hb.socket'), `${role} announces on sm.hb.socket`).toMatch(/Permissions Violation/i);
      for (let i = 0; i < 5; i++) nc.publish(`sm.hb.${role}`, forged('hb'));
      await nc.flush();
    }
    // Nor can it speak for the real socket node: a `leave` or a heartbeat in its name, with the forger's own roles.
    const real = cluster.state.processes.find((p) => p.socket !== undefined)!;
    const push = await as('push');
    for (const t of ['leave', 'hb'] as const) push.publish('sm.hb.push', encode({ t, id: real.node, roles: ['push'], kinds: [], meta: {}, draining: false, startedAt: 2 }));
    await push.flush();
    // Heartbeats are processed within milliseconds; a second and a half of answers shows they were not taken.
    const deadline = Date.now() + 1_500;
    while (Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 60)); // paced under the per-user connect limit
      expect(await health(), 'socket servers the distributor knows').toBe(1);
      const handed = await urls();
      expect(handed).not.toContain(evilUrl);
      expect(new Set(handed), 'every connect still goes to the real socket node').toEqual(new Set([`${real.socket}`]));
    }

    // Control: the same announcement from the socket user is taken (its role's right), so the check above can fail.
    const socket = await as('socket');
    socket.publish('sm.hb.socket', forged('hb'));
    await socket.flush();
    const t0 = Date.now();
    let seen = 1;
    while (seen !== 2 && Date.now() - t0 < 10_000) seen = await health();
    expect(seen, 'the socket user can announce a socket node').toBe(2);
    expect(await urls()).toContain(evilUrl);
    socket.publish('sm.hb.socket', forged('leave'));
    await socket.flush();
    const t1 = Date.now();
    while (seen !== 1 && Date.now() - t1 < 10_000) seen = await health();
    expect(seen).toBe(1);
  });
});
