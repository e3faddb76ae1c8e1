/**
 * TLS toward browsers, through the `syncmesh node` program: a gateway serving https and a socket node
 * serving wss directly (--tls-cert/--tls-key), and a socket node behind a TLS-terminating proxy that
 * announces --public-url. Certificates come from a CA the test makes with openssl; clients are real
 * TLS WebSocket clients (ws) that trust only that CA.
 */
import { request } from 'node:https';
import { connect as netConnect, type Socket } from 'node:net';
import { createServer as createTlsServer, type Server as TlsServer } from 'node:tls';
import type { AddressInfo } from 'node:net';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decode, encode } from '../../protocol/mod.js';
import { natsServer, type NatsServer } from '../kit/nats.js';
import { syncmeshNode, type SyncmeshProcess } from '../kit/syncmesh.js';
import { testCertificates, type TestCertificates } from '../kit/tls.js';
import { waitFor } from '../kit/wait.js';

const env = { SYNCMESH_TICKET_SECRET: 'tls-test-ticket-secret-0123456789', SYNCMESH_JWT_SECRET: 'tls-test-jwt-secret-0123456789-abcdefgh' };
const PUBLIC_URL_HOST = 'localhost';

let certs: TestCertificates;
let ns: NatsServer;
let gateway: SyncmeshProcess;
let direct: SyncmeshProcess;
let proxied: SyncmeshProcess;
let proxy: TlsServer;
const proxySockets = new Set<Socket>();

/** POST with JSON over https, trusting only the test CA. */
function postJson(url: string, body: unknown, headers: Record<string, string> = {}): Promise<{ status: number; json: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', ca: certs.ca, headers: { 'content-type': 'application/json', ...headers } }, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => (text += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, json: JSON.parse(text) as Record<string, unknown> }));
    });
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

interface Answer {
  connectionId: string;
  node: string;
  socket: { host: string; port: number; url: string };
  ticket: string;
}

async function connectAnswer(userId: string, deviceId: string): Promise<Answer> {
  const token = (await postJson(`${gateway.info.http}/v1/dev/token`, { userId })).json['token'] as string;
  const r = await postJson(`${gateway.info.http}/v1/connect`, { userId, deviceId }, { authorization: `Bearer ${token}` });
  expect(r.status).toBe(200);
  return r.json as unknown as Answer;
}

/** A device id of `userId` the distributor sends to `node`. */
async function deviceOn(userId: string, node: string): Promise<Answer> {
  return waitFor(`a connection allocated to ${node}`, async () => {
    for (let i = 0; i < 32; i++) {
      const a = await connectAnswer(userId, `dev-${i}`);
      if (a.node === node) return a;
    }
    return undefined;
  });
}

/** Opens the answer's URL with its ticket over TLS (trusting `ca`), waits for welcome, commits, returns the answer. */
async function openAndCommit(answer: Answer, ca: string | undefined): Promise<Record<string, unknown>> {
  const ws = new WebSocket(`${answer.socket.url}?ticket=${encodeURIComponent(answer.ticket)}`, ca === undefined ? {} : { ca });
  const frames: Record<string, unknown>[] = [];
  try {
    await new Promise<void>((resolve, reject) => {
      ws.on('message', (data: Buffer) => {
        frames.push(decode(data) as Record<string, unknown>);
        if (frames.some((f) => f['t'] === 'welcome')) resolve();
      });
      ws.once('error', reject);
      ws.once('close', (code) => reject(new Error(`closed with ${code} before welcome`)));
    });
    ws.send(encode({ t: 'commit', id: 1, collection: 'tls', changes: [{ key: 'k', value: answer.node }] }));
    return await waitFor('the committed answer', async () => frames.find((f) => f['id'] === 1), 10_000, 10);
  } finally {
    ws.close();
  }
}

beforeAll(async () => {
  certs = await testCertificates();
  ns = await natsServer();
  const tls = ['--tls-cert', certs.certFile, '--tls-key', certs.keyFile];
  gateway = await syncmeshNode(['--roles', 'gateway,storage,push', '--nats', ns.url, '--http-host', '127.0.0.1', '--http-port', '0', '--http-threads', '2', '--dev', ...tls], { env });
  direct = await syncmeshNode(['--roles', 'socket', '--node-id', 'socket-direct', '--nats', ns.url, '--socket-host', '127.0.0.1', ...tls], { env });
  // A TLS-terminating proxy (as nginx or haproxy would be) in front of a plain ws socket node.
  let target = 0;
  proxy = createTlsServer({ cert: certs.cert, key: certs.key }, (client) => {
    const upstream = netConnect(target, '127.0.0.1');
    proxySockets.add(client).add(upstream);
    client.pipe(upstream).pipe(client);
    const end = (): void => void (client.destroy(), upstream.destroy());
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  const proxyPort = (proxy.address() as AddressInfo).port;
  proxied = await syncmeshNode(
    ['--roles', 'socket', '--node-id', 'socket-proxied', '--nats', ns.url, '--socket-host', '127.0.0.1', '--public-url', `wss://${PUBLIC_URL_HOST}:${proxyPort}/ws`],
    { env },
  );
  target = Number(proxied.info.socketListen!.split(':').at(-1));
}, 90_000);

afterAll(async () => {
  for (const p of [proxied, direct, gateway]) await p?.[Symbol.asyncDispose]();
  for (const s of proxySockets) s.destroy();
  await new Promise<void>((resolve) => (proxy ? proxy.close(() => resolve()) : resolve()));
  await ns?.[Symbol.asyncDispose]();
  await certs?.[Symbol.asyncDispose]();
}, 60_000);

describe('tls - toward browsers', { timeout: 120_000 }, () => {
  it('tls - with --tls-cert/--tls-key the gateway serves https, the socket node wss, and the distributor hands out its wss:// URL', async () => {
    expect(gateway.info.http).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    expect(direct.info.socket).toMatch(/^wss:\/\/127\.0\.0\.1:\d+\/ws$/);
    const answer = await deviceOn('tls-alice', 'socket-direct');
    expect(answer.socket.url).toBe(direct.info.socket);
    expect(answer.socket).toMatchObject({ host: '127.0.0.1', port: Number(new URL(direct.info.socket!.replace('wss:', 'https:')).port) });
    const committed = await openAndCommit(answer, certs.ca);
    expect(committed).toMatchObject({ t: 'committed', id: 1, conflicts: [] });
    // The certificate is what the client checks: without the CA the handshake is refused.
    const fresh = await deviceOn('tls-alice', 'socket-direct');
    await expect(openAndCommit(fresh, undefined)).rejects.toThrow(/self[- ]signed|unable to verify|certificate/i);
  });

  it('tls - the https API is answered by the gateway\'s HTTP threads (--http-threads 2), each doing its own TLS', async () => {
    const threads = new Set<unknown>();
    for (let i = 0; i < 40 && threads.size < 2; i++) {
      const body = await new Promise<Record<string, unknown>>((resolve, reject) => {
        // A connection of its own each time (no keep-alive): the listening thread hands each to the next thread.
        const req = request(`${gateway.info.http}/healthz`, { ca: certs.ca, agent: false }, (res) => {
          let text = '';
          res.on('data', (d: Buffer) => (text += d.toString()));
          res.on('end', () => resolve(JSON.parse(text) as Record<string, unknown>));
        });
        req.on('error', reject);
        req.end();
      });
      expect(body['status']).toBe('ok');
      threads.add(body['thread']);
    }
    expect([...threads].sort()).toEqual([1, 2]);
  });

  it('tls - --public-url: the distributor hands out that exact URL, and clients sync through the TLS proxy behind it', async () => {
    expect(proxied.info.socket).toMatch(new RegExp(`^wss://${PUBLIC_URL_HOST}:\\d+/ws$`));
    const answer = await deviceOn('tls-bob', 'socket-proxied');
    const url = new URL(proxied.info.socket!);
    expect(answer.socket).toEqual({ host: PUBLIC_URL_HOST, port: Number(url.port), url: proxied.info.socket });
    const committed = await openAndCommit(answer, certs.ca);
    expect(committed).toMatchObject({ t: 'committed', id: 1, conflicts: [] });
  });
});
