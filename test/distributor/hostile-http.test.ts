/**
 * R4 at the distributor's HTTP layer: oversized bodies answered 413 every time (never a connection
 * reset), malformed framing (content-length, chunking), and slow or stalled bodies answered 408 by a
 * deadline, against a real uWebSockets.js server. The server keeps serving throughout.
 *
 * The 3 MiB case is sent the way that reset 1 run in 4 before the fix: the whole body written back to
 * back on a bare socket, while the server has long decided to refuse it.
 */
import { request as httpRequest } from 'node:http';
import { connect as netConnect } from 'node:net';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SocketTable } from '../../actors/distributor/socket-table.js';
import { listenDistributorApp, type DistributorServer } from '../../gateway/distributor/app.js';

const BODY_TIMEOUT_MS = 600;
const MIB = 1024 * 1024;

interface RawResult {
  /** What the server sent before it closed (or before the deadline). */
  readonly text: string;
  /** A socket error code (ECONNRESET, EPIPE) when the connection failed instead of closing. */
  readonly error: string | undefined;
  readonly ms: number;
}

/**
 * Writes `head` and then `chunks` back to back on a bare TCP socket (pausing `gapMs` between
 * chunks), then waits until the server closes or `waitMs` passes (then closes itself).
 */
function raw(port: number, head: string, chunks: readonly Buffer[], opts: { gapMs?: number; waitMs?: number } = {}): Promise<RawResult> {
  const t0 = Date.now();
  return new Promise((resolve) => {
    const socket = netConnect(port, '127.0.0.1');
    let text = '';
    let error: string | undefined;
    const timer = setTimeout(() => socket.destroy(), opts.waitMs ?? 10_000);
    socket.on('data', (d: Buffer) => (text += d.toString('latin1')));
    socket.on('error', (e: NodeJS.ErrnoException) => (error ??= e.code ?? e.message));
    socket.on('close', () => {
      clearTimeout(timer);
      resolve({ text, error, ms: Date.now() - t0 });
    });
    socket.on('connect', async () => {
      socket.write(head);
      for (const c of chunks) {
        if (socket.destroyed) return;
        socket.write(c);
        if (opts.gapMs) await new Promise((r) => setTimeout(r, opts.gapMs));
      }
    });
  });
}

const statusOf = (r: RawResult): number => Number(/^HTTP\/1\.1 (\d{3})/.exec(r.text)?.[1] ?? 0);
const bodyOf = (r: RawResult): string => r.text.slice(r.text.indexOf('\r\n\r\n') + 4);

describe('distributor http - hostile requests', () => {
  let server: DistributorServer;
  const table = SocketTable.fromMembers([
    { nodeId: 'sock-1', roles: ['socket'], kinds: [], meta: { socketHost: '127.0.0.1', socketPort: 9001, socketUrl: 'ws://127.0.0.1:9001/ws' }, draining: false, startedAt: 0, lastSeen: 0 },
  ]);
  beforeAll(async () => {
    server = await listenDistributorApp(
      { nodeId: 'gw-hostile', logger: pino({ level: 'silent' }), allocator: { allocate: (cid, ex) => table.pick(cid, ex), socketServers: () => table.size }, health: () => 'ready' },
      { host: '127.0.0.1', port: 0, ticketSecret: 't'.repeat(32), jwt: { secret: 'j'.repeat(32) }, devMode: false, bodyTimeoutMs: BODY_TIMEOUT_MS, rateLimit: { perIpPerSec: 0, perUserPerSec: 0 } },
    );
  });
  afterAll(async () => {
    await server?.close();
  });

  const healthy = async (): Promise<void> => {
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
  };

  it('oversized - a 3 MiB POST /v1/connect gets 413 too_large 20 times in a row, declared or chunked, never a reset', async () => {
    const body = Buffer.alloc(3 * MIB, 0x61);
    const outcomes: string[] = [];
    for (let i = 0; i < 20; i++) {
      const declared = await raw(server.port, `POST /v1/connect HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer x\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n`, [body.subarray(0, MIB), body.subarray(MIB, 2 * MIB), body.subarray(2 * MIB)]);
      const chunked = await raw(server.port, 'POST /v1/connect HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n', [
        Buffer.from(`${body.length.toString(16)}\r\n`), body, Buffer.from('\r\n0\r\n\r\n'),
      ]);
      for (const r of [declared, chunked]) {
        outcomes.push(`${statusOf(r)}${r.error ? ` ${r.error}` : ''}`);
        if (statusOf(r) === 413) expect(JSON.parse(bodyOf(r))).toMatchObject({ error: { code: 'too_large', message: expect.stringMatching(/larger than 16384 bytes/) as unknown } });
      }
    }
    expect(outcomes).toEqual(Array.from({ length: 40 }, () => '413'));
    // The usual clients too: fetch and node:http, with keep-alive.
    for (let i = 0; i < 5; i++) {
      const res = await fetch(`${server.url}/v1/connect`, { method: 'POST', body, headers: { authorization: 'Bearer x' } });
      expect(res.status).toBe(413);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('too_large');
      const viaHttp = await new Promise<number>((resolve, reject) => {
        const req = httpRequest(`${server.url}/v1/connect`, { method: 'POST', headers: { 'content-length': body.length } }, (r) => {
          r.resume();
          r.on('end', () => resolve(r.statusCode ?? 0));
        });
        req.on('error', reject);
        req.end(body);
      });
      expect(viaHttp).toBe(413);
    }
    await healthy();
  });

  it('oversized - 3 MiB to an unknown path or with a wrong method gets its 404 or 405, not a reset; past 16 MiB declared the answer comes at once', async () => {
    const body = Buffer.alloc(3 * MIB, 0x62);
    for (const [path, status] of [['/v1/nothing', 404], ['/healthz', 405], ['/index.html', 404]] as const) {
      const r = await raw(server.port, `POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n`, [body.subarray(0, MIB), body.subarray(MIB)]);
      expect({ path, status: statusOf(r), error: r.error }).toEqual({ path, status, error: undefined });
    }
    // A declared 1 GiB body is not read: 413 right away and the connection is closed.
    const huge = await raw(server.port, `POST /v1/connect HTTP/1.1\r\nHost: x\r\nContent-Length: ${1024 * MIB}\r\n\r\n`, [Buffer.alloc(1024)]);
    expect(statusOf(huge)).toBe(413);
    await healthy();
  });

  it('malformed - bad content-length, conflicting framing, bad chunking, bad JSON and wrong types each get a 4xx answer or a close, and the server keeps serving', async () => {
    const cases: [string, string][] = [
      ['content-length not a number', 'POST /v1/connect HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\nConnection: close\r\n\r\n{}'],
      ['negative content-length', 'POST /v1/connect HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\nConnection: close\r\n\r\n{}'],
      ['two content-lengths', 'POST /v1/connect HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 40\r\nConnection: close\r\n\r\n{}'],
      ['content-length and chunked', 'POST /v1/connect HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n2\r\n{}\r\n0\r\n\r\n'],
      ['chunk size not hex', 'POST /v1/connect HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\nzz\r\n{}\r\n0\r\n\r\n'],
      ['content-length overflowing 64 bits', 'POST /v1/connect HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999999\r\nConnection: close\r\n\r\n{}'],
      ['header without colon', 'POST /v1/connect HTTP/1.1\r\nHost: x\r\nBroken header\r\nConnection: close\r\n\r\n'],
      ['bad JSON', 'POST /v1/connect HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer x\r\nContent-Length: 9\r\nConnection: close\r\n\r\n{"userId"'],
      ['NUL bytes', `POST /v1/connect HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nConnection: close\r\n\r\n\0\0\0\0`],
    ];
    const seen: string[] = [];
    for (const [what, request] of cases) {
      const r = await raw(server.port, request, []);
      const status = statusOf(r);
      // 0: the HTTP layer closed without an answer, which a broken request may get.
      expect({ what, ok: status === 0 || (status >= 400 && status < 500) }).toEqual({ what, ok: true });
      // Our handlers answer JSON; framing errors are refused by uWebSockets.js's parser first (400, its own HTML body).
      if (/content-type: application\/json/i.test(r.text)) expect(() => JSON.parse(bodyOf(r)) as unknown).not.toThrow();
      seen.push(`${what}: ${status}`);
    }
    console.info(`malformed HTTP answers: ${seen.join('; ')}`);
    await healthy();
  });

  it('slow bodies - a body that stalls or trickles past the deadline gets 408 request_timeout and the connection is closed; 50 at once do not block others', async () => {
    const head = 'POST /v1/connect HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer x\r\nContent-Length: 100\r\n\r\n';
    const stalled = await raw(server.port, head, [Buffer.from('{"userId":')]);
    expect(statusOf(stalled)).toBe(408);
    expect(JSON.parse(bodyOf(stalled))).toMatchObject({ error: { code: 'request_timeout' } });
    expect(stalled.ms).toBeLessThan(BODY_TIMEOUT_MS + 5_000);
    const trickle = await raw(server.port, head, Array.from({ length: 100 }, () => Buffer.from(' ')), { gapMs: 50 });
    expect(statusOf(trickle)).toBe(408);
    // Many stalled clients at once: the server still answers others at once.
    const many = Array.from({ length: 50 }, () => raw(server.port, head, [Buffer.from('{')]));
    const t0 = Date.now();
    await healthy();
    expect(Date.now() - t0).toBeLessThan(BODY_TIMEOUT_MS);
    expect((await Promise.all(many)).map(statusOf)).toEqual(Array.from({ length: 50 }, () => 408));
    await healthy();
  });
});
