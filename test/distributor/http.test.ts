/**
 * The distributor's HTTP API (PROTOCOL.md section 2) against a real uWebSockets.js server and real
 * HTTP requests. The allocation side is a SocketTable fed by hand-made members (the runtime-backed
 * path is covered in distributor.test.ts); everything else is the code that ships.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { connect as netConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SignJWT, jwtVerify } from 'jose';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { connectionId } from '../../protocol/cluster/mod.js';
import { SocketTable } from '../../actors/distributor/socket-table.js';
import { listenDistributorApp, type DistributorOptions, type DistributorServer, type HealthState } from '../../gateway/distributor/app.js';
import type { Allocator } from '../../gateway/distributor/allocator.js';
import { verifyTicket } from '../../gateway/ticket.js';
import type { MemberInfo } from '../../runtime/types.js';

const JWT_SECRET = 'test-jwt-secret-0123456789abcdef';
const TICKET_SECRET = 'test-ticket-secret-0123456789abcd';
const DEV_SECRET = 'test-dev-secret-0123456789abcdefgh';
const logger = pino({ level: 'silent' });

function socketMember(i: number, extra: Partial<MemberInfo> = {}): MemberInfo {
  const port = 9100 + i;
  return {
    nodeId: `sock-${i}`,
    roles: ['socket'],
    kinds: [],
    meta: { socketHost: '127.0.0.1', socketPort: port, socketUrl: `ws://127.0.0.1:${port}/ws` },
    draining: false,
    startedAt: 0,
    lastSeen: 0,
    ...extra,
  };
}

/** A distributor HTTP server over a table the test changes. */
interface Harness {
  server: DistributorServer;
  url: string;
  table: SocketTable;
  health: HealthState;
}

async function harness(options: Partial<DistributorOptions> = {}, members: MemberInfo[] = [socketMember(1), socketMember(2), socketMember(3)]): Promise<Harness> {
  const h = { table: SocketTable.fromMembers(members), health: 'ready' as HealthState } as Harness;
  const allocator: Allocator = {
    allocate: async (cid, exclude) => h.table.pick(cid, exclude),
    socketServers: async () => h.table.size,
  };
  h.server = await listenDistributorApp(
    { nodeId: 'gw-test', logger, allocator, health: () => h.health },
    { host: '127.0.0.1', port: 0, ticketSecret: TICKET_SECRET, jwt: { secret: JWT_SECRET }, devMode: true, devTokenSecret: DEV_SECRET, ...options },
  );
  h.url = h.server.url;
  return h;
}

async function token(sub: string | undefined, opts: { exp?: number; secret?: string; issuer?: string; audience?: string } = {}): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const jwt = new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setIssuedAt(now).setExpirationTime(opts.exp ?? now + 3600);
  if (sub !== undefined) jwt.setSubject(sub);
  if (opts.issuer !== undefined) jwt.setIssuer(opts.issuer);
  if (opts.audience !== undefined) jwt.setAudience(opts.audience);
  return jwt.sign(new TextEncoder().encode(opts.secret ?? JWT_SECRET));
}

interface Answer {
  status: number;
  headers: Headers;
  body: Record<string, unknown>;
}

async function call(url: string, path: string, init: { method?: string; body?: string; auth?: string; headers?: Record<string, string> } = {}): Promise<Answer> {
  const headers: Record<string, string> = { ...init.headers };
  if (init.body !== undefined) headers['content-type'] ??= 'application/json';
  if (init.auth !== undefined) headers['authorization'] = init.auth;
  const res = await fetch(url + path, { method: init.method ?? (init.body !== undefined ? 'POST' : 'GET'), headers, body: init.body });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text === '' ? {} : (JSON.parse(text) as Record<string, unknown>) };
}

async function connectAs(url: string, userId: string, deviceId: string, tok?: string): Promise<Answer> {
  return call(url, '/v1/connect', { body: JSON.stringify({ userId, deviceId }), auth: `Bearer ${tok ?? (await token(userId))}` });
}

function expectError(a: Answer, status: number, code: string): void {
  expect(a.status, JSON.stringify(a.body)).toBe(status);
  const error = a.body['error'] as { code: string; message: string };
  expect(error.code).toBe(code);
  expect(typeof error.message).toBe('string');
  expect(error.message.length).toBeGreaterThan(10);
}

/** Sends raw bytes on a fresh TCP connection; resolves with everything the server sent until it closed. */
function rawExchange(port: number, chunks: (string | Buffer)[], closeAfterMs?: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = netConnect(port, '127.0.0.1');
    let got = '';
    socket.on('data', (d) => (got += d.toString('latin1')));
    socket.on('error', reject);
    socket.on('close', () => resolve(got));
    socket.on('connect', () => {
      for (const c of chunks) socket.write(c);
      if (closeAfterMs !== undefined) setTimeout(() => socket.destroy(), closeAfterMs);
    });
  });
}

describe('distributor http', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await harness({ rateLimit: { perUserPerSec: 1000, perIpPerSec: 100_000 } });
  });
  afterAll(async () => {
    await h?.server.close();
  });

  it('healthz - 200 with the node and the number of live socket servers', async () => {
    const a = await call(h.url, '/healthz');
    expect(a.status).toBe(200);
    expect(a.body).toEqual({ status: 'ok', node: 'gw-test', socketServers: 3, thread: 0 });
  });

  it('dev token - issues an HS256 token of the dev issuer, signed with the dev key (not the user-token secret), whose subject is the user', async () => {
    const a = await call(h.url, '/v1/dev/token', { body: JSON.stringify({ userId: 'alice' }) });
    expect(a.status).toBe(200);
    expect(a.headers.get('access-control-allow-origin')).toBe('*');
    const { payload, protectedHeader } = await jwtVerify(a.body['token'] as string, new TextEncoder().encode(DEV_SECRET));
    expect(protectedHeader.alg).toBe('HS256');
    expect(payload.sub).toBe('alice');
    expect(payload.iss).toBe('syncmesh-dev');
    expect(payload.exp! - payload.iat!).toBe(24 * 3600);
    await expect(jwtVerify(a.body['token'] as string, new TextEncoder().encode(JWT_SECRET))).rejects.toThrow();
    expectError(await call(h.url, '/v1/dev/token', { body: '{"userId":5}' }), 400, 'bad_request');
    expectError(await call(h.url, '/v1/dev/token', { body: 'nope' }), 400, 'bad_request');
  });

  it('connect - answers the connection id, socket server and a ticket bound to both', async () => {
    const tok = (await call(h.url, '/v1/dev/token', { body: JSON.stringify({ userId: 'alice' }) })).body['token'] as string;
    const before = Date.now();
    const a = await connectAs(h.url, 'alice', 'laptop', tok);
    expect(a.status, JSON.stringify(a.body)).toBe(200);
    expect(a.headers.get('access-control-allow-origin')).toBe('*');
    const cid = connectionId('alice', 'laptop');
    expect(a.body['connectionId']).toBe(cid);
    const chosen = h.table.pick(cid)!;
    expect(a.body['socket']).toEqual({ host: chosen.host, port: chosen.port, url: chosen.url });
    const expiresAt = a.body['expiresAt'] as number;
    expect(expiresAt).toBeGreaterThanOrEqual(before + 30_000);
    expect(expiresAt).toBeLessThanOrEqual(Date.now() + 30_000);
    const claims = verifyTicket(TICKET_SECRET, a.body['ticket'] as string, chosen.id, Date.now());
    expect(claims).toMatchObject({ cid, uid: 'alice', did: 'laptop', node: chosen.id, exp: expiresAt });
    // Bound to that node: another socket server refuses it.
    expect(() => verifyTicket(TICKET_SECRET, a.body['ticket'] as string, 'sock-other', Date.now())).toThrow(/another socket server/);
    // Same pair again: same id and server, a fresh ticket.
    const again = await connectAs(h.url, 'alice', 'laptop', tok);
    expect(again.body['connectionId']).toBe(cid);
    expect(again.body['socket']).toEqual(a.body['socket']);
    expect(again.body['ticket']).not.toBe(a.body['ticket']);
  });

  it('connect - exclude moves the id off the excluded nodes, the answer names the node; excluding all is ignored', async () => {
    const auth = `Bearer ${await token('carol')}`;
    const connect = (deviceId: string, exclude?: unknown): Promise<Answer> =>
      call(h.url, '/v1/connect', { body: JSON.stringify(exclude === undefined ? { userId: 'carol', deviceId } : { userId: 'carol', deviceId, exclude }), auth });
    for (let d = 0; d < 6; d++) {
      const deviceId = `d${d}`;
      const cid = connectionId('carol', deviceId);
      const plain = await connect(deviceId);
      expect(plain.status).toBe(200);
      const node = plain.body['node'] as string;
      expect(node).toBe(h.table.pick(cid)!.id);
      const other = h.table.servers().find((s) => s.id !== node)!.id;
      // Excluding a node it is not on changes nothing.
      expect((await connect(deviceId, [other])).body['node']).toBe(node);
      const moved = await connect(deviceId, [node]);
      expect(moved.status).toBe(200);
      const movedNode = moved.body['node'] as string;
      expect(movedNode).not.toBe(node);
      expect(movedNode).toBe(h.table.pick(cid, [node])!.id);
      const server = h.table.get(movedNode)!;
      expect(moved.body['socket']).toEqual({ host: server.host, port: server.port, url: server.url });
      // The ticket is bound to the node actually chosen.
      expect(verifyTicket(TICKET_SECRET, moved.body['ticket'] as string, movedNode, Date.now())).toMatchObject({ cid, node: movedNode });
      // Two of three excluded: the third; all three: the exclusion is ignored.
      const third = h.table.servers().map((s) => s.id).find((id) => id !== node && id !== movedNode)!;
      expect((await connect(deviceId, [node, movedNode])).body['node']).toBe(third);
      const all = await connect(deviceId, ['sock-1', 'sock-2', 'sock-3']);
      expect(all.status).toBe(200);
      expect(all.body['node']).toBe(node);
      expect((await connect(deviceId, null)).body['node']).toBe(node);
      expect((await connect(deviceId, [])).body['node']).toBe(node);
    }
  });

  it('connect - 400 for an exclude that is not an array of at most 8 node ids of 1 to 128 characters', async () => {
    const auth = `Bearer ${await token('bob')}`;
    const bad: unknown[] = ['sock-1', { a: 1 }, 5, [5], [''], ['x'.repeat(129)], [null], Array.from({ length: 9 }, (_, i) => `n${i}`)];
    for (const exclude of bad) {
      const a = await call(h.url, '/v1/connect', { body: JSON.stringify({ userId: 'bob', deviceId: 'd', exclude }), auth });
      expectError(a, 400, 'bad_request');
      expect((a.body['error'] as { message: string }).message).toMatch(/exclude/);
    }
    const ok = await call(h.url, '/v1/connect', { body: JSON.stringify({ userId: 'bob', deviceId: 'd', exclude: Array.from({ length: 8 }, (_, i) => `${i}`.padEnd(128, 'x')) }), auth });
    expect(ok.status).toBe(200);
  });

  it('connect - ids spread over every live socket server', async () => {
    const seen = new Set<string>();
    const tok = await token('spread-user');
    for (let i = 0; i < 40; i++) seen.add(JSON.stringify((await connectAs(h.url, 'spread-user', `d${i}`, tok)).body['socket']));
    expect(seen.size).toBe(3);
  });

  it('connect - 401 without a token, with a malformed header, a forged, expired or subject-less token', async () => {
    const body = JSON.stringify({ userId: 'bob', deviceId: 'phone' });
    expectError(await call(h.url, '/v1/connect', { body }), 401, 'unauthorized');
    expectError(await call(h.url, '/v1/connect', { body, auth: 'Basic Ym9iOnB3' }), 401, 'unauthorized');
    expectError(await call(h.url, '/v1/connect', { body, auth: 'Bearer ' }), 401, 'unauthorized');
    expectError(await call(h.url, '/v1/connect', { body, auth: 'Bearer not.a.jwt' }), 401, 'unauthorized');
    expectError(await call(h.url, '/v1/connect', { body, auth: `Bearer ${await token('bob', { secret: 'another-secret-0123456789abcdefgh' })}` }), 401, 'unauthorized');
    const expired = await call(h.url, '/v1/connect', { body, auth: `Bearer ${await token('bob', { exp: Math.floor(Date.now() / 1000) - 10 })}` });
    expectError(expired, 401, 'unauthorized');
    expect((expired.body['error'] as { message: string }).message).toMatch(/expired/);
    expectError(await call(h.url, '/v1/connect', { body, auth: `Bearer ${await token(undefined)}` }), 401, 'unauthorized');
    expectError(await call(h.url, '/v1/connect', { body, auth: `Bearer ${'x'.repeat(3000)}` }), 401, 'unauthorized');
    // Past the server's header limit the HTTP layer itself refuses (431), without reaching the handler.
    const huge = await fetch(`${h.url}/v1/connect`, { method: 'POST', body, headers: { authorization: `Bearer ${'x'.repeat(20_000)}` } });
    expect(huge.status).toBeGreaterThanOrEqual(400);
    expect(huge.status).toBeLessThan(500);
  });

  it('connect - 403 when the body userId is not the token subject', async () => {
    const a = await call(h.url, '/v1/connect', { body: JSON.stringify({ userId: 'mallory', deviceId: 'd' }), auth: `Bearer ${await token('bob')}` });
    expectError(a, 403, 'forbidden');
  });

  it('connect - 400 for malformed JSON, wrong shapes, missing, non-string, empty and over-long fields', async () => {
    const auth = `Bearer ${await token('bob')}`;
    const bad = [
      '{"userId":"bob",',
      '[]',
      '"bob"',
      'null',
      '',
      '{"userId":"bob"}',
      '{"deviceId":"d"}',
      '{"userId":"bob","deviceId":7}',
      '{"userId":"bob","deviceId":null}',
      '{"userId":"bob","deviceId":""}',
      JSON.stringify({ userId: 'bob', deviceId: 'd'.repeat(129) }),
      JSON.stringify({ userId: 'bob', deviceId: { a: 1 } }),
    ];
    for (const body of bad) expectError(await call(h.url, '/v1/connect', { body, auth }), 400, 'bad_request');
    // 128 characters is allowed, counted in code points.
    const ok = await call(h.url, '/v1/connect', { body: JSON.stringify({ userId: 'bob', deviceId: '😀'.repeat(128) }), auth });
    expect(ok.status).toBe(200);
  });

  it('connect - 413 for a body over 16 KB, declared or streamed, and the server keeps serving', async () => {
    const auth = `Bearer ${await token('bob')}`;
    const big = JSON.stringify({ userId: 'bob', deviceId: 'd', pad: 'x'.repeat(17 * 1024) });
    expectError(await call(h.url, '/v1/connect', { body: big, auth }), 413, 'too_large');
    // Chunked, no content-length: refused once the cap is passed.
    const streamed = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = httpRequest(`${h.url}/v1/connect`, { method: 'POST', headers: { authorization: auth, 'transfer-encoding': 'chunked' } }, (res) => {
        let text = '';
        res.on('data', (d: Buffer) => (text += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
      });
      req.on('error', reject);
      for (let i = 0; i < 20; i++) req.write('x'.repeat(1024));
      req.end();
    });
    expect(streamed.status).toBe(413);
    expect(JSON.parse(streamed.body).error.code).toBe('too_large');
    expect((await call(h.url, '/healthz')).status).toBe(200);
  });

  it('http - 404 JSON for unknown paths, 405 with Allow for wrong methods', async () => {
    const nf = await call(h.url, '/v1/nothing', { body: '{}' });
    expectError(nf, 404, 'not_found');
    expectError(await call(h.url, '/nothing/here'), 404, 'not_found');
    const wrong = await call(h.url, '/v1/connect');
    expectError(wrong, 405, 'method_not_allowed');
    expect(wrong.headers.get('allow')).toBe('POST');
    const wrongHealth = await call(h.url, '/healthz', { method: 'DELETE' });
    expectError(wrongHealth, 405, 'method_not_allowed');
    expect(wrongHealth.headers.get('allow')).toBe('GET');
    expectError(await call(h.url, '/v1/dev/token'), 405, 'method_not_allowed');
  });

  it('http - CORS preflight for /v1/* allows any origin and the Authorization header', async () => {
    for (const path of ['/v1/connect', '/v1/dev/token']) {
      const res = await fetch(h.url + path, {
        method: 'OPTIONS',
        headers: { origin: 'http://localhost:5173', 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization,content-type' },
      });
      expect(res.status).toBe(204);
      expect(res.headers.get('access-control-allow-origin')).toBe('*');
      expect(res.headers.get('access-control-allow-methods')).toContain('POST');
      expect(res.headers.get('access-control-allow-headers')?.toLowerCase()).toContain('authorization');
    }
    const err = await call(h.url, '/v1/connect', { body: '{}', headers: { origin: 'http://localhost:5173' } });
    expect(err.headers.get('access-control-allow-origin')).toBe('*');
  });

  it('http - a client that goes away mid-request or sends garbage does not disturb the server', async () => {
    await rawExchange(h.server.port, ['POST /v1/connect HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\nAuthorization: Bearer x\r\n\r\n{"userId":'], 20);
    const garbage = await rawExchange(h.server.port, ['\x00\x01GARBAGE / HTTP/9.9\r\n\r\n\r\n'], 500);
    expect(garbage.startsWith('HTTP/1.1 2')).toBe(false);
    // A POST with no body at all (no Content-Length) is answered, not left waiting for one.
    const bodiless = await rawExchange(h.server.port, ['POST /v1/dev/token HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n']);
    expect(bodiless.slice(0, 12)).toBe('HTTP/1.1 400');
    expect((await call(h.url, '/healthz')).status).toBe(200);
  });
});

describe('distributor http - configurations', () => {
  const servers: DistributorServer[] = [];
  const dirs: string[] = [];
  afterEach(async () => {
    for (const s of servers.splice(0)) await s.close();
    for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
  });
  async function start(options: Partial<DistributorOptions> = {}, members?: MemberInfo[]): Promise<Harness> {
    const h = await harness(options, members);
    servers.push(h.server);
    return h;
  }

  it('dev token - 404 when dev mode is off', async () => {
    const h = await start({ devMode: false });
    expectError(await call(h.url, '/v1/dev/token', { body: JSON.stringify({ userId: 'alice' }) }), 404, 'not_found');
    expectError(await call(h.url, '/v1/dev/token', { method: 'OPTIONS' }), 404, 'not_found');
    expect((await connectAs(h.url, 'alice', 'laptop')).status).toBe(200);
  });

  it('connect - 503 with Retry-After when no socket server is live; healthz says so', async () => {
    const h = await start({}, []);
    const a = await connectAs(h.url, 'alice', 'laptop');
    expectError(a, 503, 'unavailable');
    expect(Number(a.headers.get('retry-after'))).toBeGreaterThan(0);
    const health = await call(h.url, '/healthz');
    expect(health.status).toBe(503);
    expect(health.body['socketServers']).toBe(0);
    // A server comes up: allocation works again.
    h.table = SocketTable.fromMembers([socketMember(9)]);
    const b = await connectAs(h.url, 'alice', 'laptop');
    expect(b.status).toBe(200);
    expect((b.body['socket'] as { port: number }).port).toBe(9109);
  });

  it('healthz - 503 while starting or closing', async () => {
    const h = await start();
    h.health = 'starting';
    const a = await call(h.url, '/healthz');
    expect(a.status).toBe(503);
    expect(a.body['status']).toBe('starting');
    h.health = 'closing';
    expect((await call(h.url, '/healthz')).body['status']).toBe('closing');
  });

  it('connect - draining servers get no new connections', async () => {
    const h = await start({}, [socketMember(1), socketMember(2, { draining: true })]);
    const tok = await token('carol');
    for (let i = 0; i < 20; i++) {
      const a = await connectAs(h.url, 'carol', `d${i}`, tok);
      expect((a.body['socket'] as { port: number }).port).toBe(9101);
    }
  });

  it('connect - 429 with Retry-After past the per-user rate, other users unaffected', async () => {
    const h = await start({ rateLimit: { perUserPerSec: 3, perIpPerSec: 0 } });
    const tok = await token('dave');
    const answers: Answer[] = [];
    for (let i = 0; i < 5; i++) answers.push(await connectAs(h.url, 'dave', `d${i}`, tok));
    expect(answers.slice(0, 3).map((a) => a.status)).toEqual([200, 200, 200]);
    const limited = answers[4]!;
    expectError(limited, 429, 'rate_limited');
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect((await connectAs(h.url, 'erin', 'd')).status).toBe(200);
  });

  it('connect - 429 past the per-address rate, before the token is even checked', async () => {
    const h = await start({ rateLimit: { perIpPerSec: 2 } });
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) statuses.push((await call(h.url, '/v1/connect', { body: '{}', auth: 'Bearer junk' })).status);
    expect(statuses).toEqual([401, 401, 429, 429]);
  });

  it('static - serves the client directory at / with content types and no way out of it', async () => {
    const root = await mkdtemp(join(tmpdir(), 'sm-static-'));
    dirs.push(root);
    const site = join(root, 'site');
    await mkdir(join(site, 'assets'), { recursive: true });
    await writeFile(join(site, 'index.html'), '<!doctype html><title>syncmesh</title>');
    await writeFile(join(site, 'assets', 'app.js'), 'console.log(1)');
    await writeFile(join(site, '.env'), 'SECRET=1');
    await writeFile(join(root, 'secret.txt'), 'outside');
    const h = await start({ staticDir: site });
    const index = await fetch(`${h.url}/`);
    expect(index.status).toBe(200);
    expect(index.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(await index.text()).toContain('syncmesh');
    const js = await fetch(`${h.url}/assets/app.js`);
    expect(js.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(await js.text()).toBe('console.log(1)');
    expect((await fetch(`${h.url}/missing.js`)).status).toBe(404);
    expect((await fetch(`${h.url}/.env`)).status).toBe(404);
    expect((await fetch(`${h.url}/assets`)).status).toBe(404);
    // fetch normalises `..`; raw requests do not.
    for (const path of ['/../secret.txt', '/%2e%2e/secret.txt', '/assets/..%2f..%2fsecret.txt', '/..%5csecret.txt', '/%00index.html', '/%E0%A4%A']) {
      const raw = await rawExchange(h.server.port, [`GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`]);
      expect(raw.slice(0, 12), path).toBe('HTTP/1.1 404');
      expect(raw).not.toContain('outside');
    }
  });

  it('static - the client bundle is served with CORS headers for any origin; other files are not', async () => {
    const root = await mkdtemp(join(tmpdir(), 'sm-static-'));
    dirs.push(root);
    await mkdir(join(root, 'assets'), { recursive: true });
    await writeFile(join(root, 'index.html'), '<!doctype html><title>syncmesh</title>');
    await writeFile(join(root, 'syncmesh-client.js'), 'export const x = 1;');
    await writeFile(join(root, 'syncmesh-client.js.map'), '{}');
    await writeFile(join(root, 'assets', 'syncmesh-client.js'), 'export const y = 2;');
    const h = await start({ staticDir: root });
    const origin = { Origin: 'https://app.example.com' };
    for (const path of ['/syncmesh-client.js', '/syncmesh-client.js.map']) {
      const res = await fetch(`${h.url}${path}`, { headers: origin });
      expect(res.status, path).toBe(200);
      expect(res.headers.get('access-control-allow-origin'), path).toBe('*');
      expect(res.headers.get('cross-origin-resource-policy'), path).toBe('cross-origin');
    }
    expect((await fetch(`${h.url}/syncmesh-client.js`)).headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    for (const path of ['/', '/index.html', '/assets/syncmesh-client.js']) {
      const res = await fetch(`${h.url}${path}`, { headers: origin });
      expect(res.status, path).toBe(200);
      expect(res.headers.get('access-control-allow-origin'), path).toBeNull();
    }
  });
});
