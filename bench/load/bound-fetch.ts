/**
 * A `fetch` for the client library whose TCP connections leave from one local address (127.0.0.x),
 * over a small keep-alive pool. Node's global fetch cannot bind a source address without undici's
 * Agent (not a dependency), and the load must come from several addresses: the distributor limits
 * requests per address, and one address has only ~28k ephemeral ports per destination.
 *
 * Like a browser, a request that fails on a reused keep-alive socket (the server closed it while idle:
 * ECONNRESET, "socket hang up") is sent once more on a fresh one; idle sockets are dropped after 4 s,
 * before the server's own idle timeout (uWebSockets.js: 10 s).
 */
import { Agent, request } from 'node:http';
import type { FetchLike } from '../../client/mod.js';

export function boundFetch(localAddress: string, maxSockets = 64): FetchLike {
  const agent = new Agent({ keepAlive: true, maxSockets, localAddress, timeout: 4_000 });
  const once = (input: string, init: RequestInit, retried: boolean): Promise<Response> =>
    new Promise<Response>((resolve, reject) => {
      const headers: Record<string, string> = {};
      new Headers(init.headers).forEach((v, k) => {
        headers[k] = v;
      });
      const body = typeof init.body === 'string' ? init.body : undefined;
      if (body !== undefined) headers['content-length'] = String(Buffer.byteLength(body));
      const req = request(input, { method: init.method ?? 'GET', headers, agent, ...(init.signal ? { signal: init.signal } : {}) }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const h = new Headers();
          for (const [k, v] of Object.entries(res.headers)) if (typeof v === 'string') h.set(k, v);
          resolve(new Response(Buffer.concat(chunks), { status: res.statusCode ?? 0, headers: h }));
        });
      });
      req.on('error', (err: NodeJS.ErrnoException) => {
        if (!retried && req.reusedSocket && (err.code === 'ECONNRESET' || err.message === 'socket hang up')) resolve(once(input, init, true));
        else reject(err);
      });
      req.end(body);
    });
  return (input, init) => once(input, init, false);
}
