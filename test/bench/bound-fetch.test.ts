import { afterEach, describe, expect, it } from 'vitest';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { boundFetch } from '../../bench/load/bound-fetch.js';

let server: Server | undefined;

async function serve(handler: (req: IncomingMessage, body: string, res: ServerResponse) => void): Promise<string> {
  server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (body += c));
    req.on('end', () => handler(req, body, res));
  });
  await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** An answer with Content-Length, as the distributor (uWebSockets.js) sends them. */
function answer(res: ServerResponse, status: number, body: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { ...headers, 'content-length': Buffer.byteLength(body) }).end(body);
}

afterEach(async () => {
  server?.closeAllConnections();
  await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
  server = undefined;
});

describe('boundFetch (the load processes\' HTTP/1.1 client)', () => {
  it('sends method, path, headers and body from the given source address and reads status, headers and JSON', async () => {
    const seen: { method?: string; url?: string; auth?: string; body?: string; from?: string }[] = [];
    const url = await serve((req, body, res) => {
      seen.push({ method: req.method, url: req.url, auth: req.headers.authorization, body, from: req.socket.remoteAddress });
      answer(res, 429, JSON.stringify({ error: { code: 'rate_limited' } }), { 'content-type': 'application/json', 'retry-after': '3' });
    });
    const f = boundFetch('127.0.0.3');
    const res = await f(`${url}/v1/connect?x=1`, { method: 'POST', headers: { authorization: 'Bearer t', 'content-type': 'application/json' }, body: '{"userId":"u"}' });
    expect(res.ok).toBe(false);
    expect(res.status).toBe(429);
    expect(res.headers.get('Retry-After')).toBe('3');
    expect(await res.json()).toEqual({ error: { code: 'rate_limited' } });
    expect(seen).toEqual([{ method: 'POST', url: '/v1/connect?x=1', auth: 'Bearer t', body: '{"userId":"u"}', from: '127.0.0.3' }]);
  });

  it('keeps at most maxSockets connections, and every request is answered in turn', async () => {
    const sockets = new Set<unknown>();
    const url = await serve((req, _body, res) => {
      sockets.add(req.socket);
      setTimeout(() => answer(res, 200, JSON.stringify({ n: Number(req.url!.slice(1)) })), 2);
    });
    const f = boundFetch('127.0.0.1', 4);
    const answers = await Promise.all(Array.from({ length: 40 }, (_, i) => f(`${url}/${i}`, { method: 'GET' }).then((r) => r.json())));
    expect(answers).toEqual(Array.from({ length: 40 }, (_, n) => ({ n })));
    expect(sockets.size).toBeLessThanOrEqual(4);
  });

  it('sends a request again on a fresh socket when the server closed the kept-alive one', async () => {
    let n = 0;
    const url = await serve((_req, _body, res) => {
      n++;
      answer(res, 200, '{}');
    });
    const f = boundFetch('127.0.0.1', 1);
    await f(`${url}/a`, { method: 'GET' });
    server!.closeAllConnections(); // the kept-alive socket dies while idle
    const res = await f(`${url}/b`, { method: 'GET' });
    expect(res.status).toBe(200);
    expect(n).toBe(2);
  });

  it('refuses an answer without Content-Length, saying so', async () => {
    const url = await serve((_req, _body, res) => res.writeHead(200).end('{}')); // chunked
    await expect(boundFetch('127.0.0.1')(`${url}/`, { method: 'GET' })).rejects.toThrow(/without Content-Length/);
  });

  it('rejects an aborted request and keeps serving the others', async () => {
    const url = await serve((req, _body, res) => {
      if (req.url === '/slow') setTimeout(() => answer(res, 200, '{}'), 2_000);
      else answer(res, 200, '{"fast":true}');
    });
    const f = boundFetch('127.0.0.1', 2);
    const ac = new AbortController();
    const slow = f(`${url}/slow`, { method: 'GET', signal: ac.signal });
    ac.abort(new Error('gave up'));
    await expect(slow).rejects.toThrow('gave up');
    expect(await (await f(`${url}/fast`, { method: 'GET' })).json()).toEqual({ fast: true });
  });
});
