import { afterEach, describe, expect, it } from 'vitest';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket as ServerSocket } from 'ws';
import { createServer as createTcpServer } from 'node:net';
import { LiteWebSocket } from '../../bench/load/lite-ws.js';
import { LocalPorts } from '../../bench/load/local-ports.js';

let server: Server | undefined;
let wss: WebSocketServer | undefined;

/** A `ws` server on a free port; `onConnection` gets each accepted socket and the request's source address. */
async function serve(onConnection: (ws: ServerSocket, from: string | undefined, fromPort: number | undefined) => void, refuse?: number): Promise<string> {
  server = createServer((_req, res) => res.writeHead(404).end());
  wss = new WebSocketServer({ noServer: true, perMessageDeflate: false });
  server.on('upgrade', (req, socket, head) => {
    if (refuse !== undefined) {
      socket.end(`HTTP/1.1 ${refuse} Refused\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`);
      return;
    }
    wss!.handleUpgrade(req, socket, head, (ws) => onConnection(ws, req.socket.remoteAddress, req.socket.remotePort));
  });
  await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
  return `ws://127.0.0.1:${(server.address() as AddressInfo).port}/ws?ticket=abc`;
}

afterEach(async () => {
  for (const c of wss?.clients ?? []) c.terminate();
  wss?.close();
  server?.closeAllConnections();
  await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
  server = undefined;
  wss = undefined;
});

interface Seen {
  messages: (Uint8Array | string)[];
  errors: string[];
  closes: { code: number; reason: string }[];
  opened: boolean;
}

function watch(ws: LiteWebSocket): Seen & { closed: Promise<{ code: number; reason: string }> } {
  const seen: Seen = { messages: [], errors: [], closes: [], opened: false };
  ws.onmessage = ((ev: { data: Uint8Array | string }) => seen.messages.push(ev.data)) as (ev: never) => void;
  ws.onerror = ((ev: { message: string }) => seen.errors.push(ev.message)) as (ev: never) => void;
  const closed = new Promise<{ code: number; reason: string }>((resolve) => {
    ws.onclose = ((ev: { code: number; reason: string }) => {
      seen.closes.push(ev);
      resolve(ev);
    }) as (ev: never) => void;
  });
  return Object.assign(seen, { closed });
}

async function until(cond: () => boolean, what: string, ms = 5_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('LiteWebSocket (the load processes\' WebSocket client)', () => {
  it('opens from the given source address, exchanges binary messages of every length encoding, and passes the query', async () => {
    let from: string | undefined;
    const got: Buffer[] = [];
    const url = await serve((ws, addr) => {
      from = addr;
      ws.on('message', (data: Buffer) => {
        got.push(data);
        ws.send(data); // echo
      });
    });
    let opened = 0;
    const binaries: number[] = [];
    const ws = new LiteWebSocket(url, { localAddress: '127.0.0.4', onOpen: () => opened++, onBinary: (d) => binaries.push(d.length) });
    const seen = watch(ws);
    expect(ws.readyState).toBe(LiteWebSocket.CONNECTING);
    await until(() => opened === 1, 'open');
    expect(ws.readyState).toBe(LiteWebSocket.OPEN);
    expect(from).toBe('127.0.0.4');
    const sizes = [0, 1, 125, 126, 65_535, 65_536, 200_000];
    const payloads = sizes.map((n) => Uint8Array.from({ length: n }, (_, i) => (i * 7 + n) & 0xff));
    for (const p of payloads) ws.send(p);
    await until(() => seen.messages.length === sizes.length, 'echoes');
    expect(got.map((b) => b.length)).toEqual(sizes);
    got.forEach((b, i) => expect(Buffer.compare(b, Buffer.from(payloads[i]!))).toBe(0));
    seen.messages.forEach((m, i) => expect(Buffer.compare(Buffer.from(m as Uint8Array), Buffer.from(payloads[i]!))).toBe(0));
    expect(binaries).toEqual(sizes);
    expect(typeof ws.bufferedAmount).toBe('number');
    ws.close(1000, 'done');
    expect(ws.readyState).toBe(LiteWebSocket.CLOSING);
    expect(await seen.closed).toEqual({ code: 1000, reason: 'done' });
    expect(ws.readyState).toBe(LiteWebSocket.CLOSED);
    expect(seen.errors).toEqual([]);
  });

  it('reassembles fragmented and text messages, answers pings, and reports the server close code and reason', async () => {
    let pong: Buffer | undefined;
    const url = await serve((ws) => {
      ws.on('pong', (d: Buffer) => (pong = d));
      ws.send(Buffer.from([1, 2]), { fin: false, binary: true });
      ws.send(Buffer.from([3]), { fin: false });
      ws.send(Buffer.from([4, 5]), { fin: true });
      ws.send('hello', { binary: false });
      ws.ping(Buffer.from('p1'));
      setImmediate(() => ws.close(4001, 'bye'));
    });
    const ws = new LiteWebSocket(url);
    const seen = watch(ws);
    expect(await seen.closed).toEqual({ code: 4001, reason: 'bye' });
    expect(seen.messages.map((m) => (typeof m === 'string' ? m : [...m]))).toEqual([[1, 2, 3, 4, 5], 'hello']);
    expect(pong?.toString()).toBe('p1');
    expect(seen.errors).toEqual([]);
  });

  it('fails a refused upgrade with the status, as `ws` does, and closes with 1006', async () => {
    const url = await serve(() => undefined, 401);
    const ws = new LiteWebSocket(url);
    const seen = watch(ws);
    expect(await seen.closed).toEqual({ code: 1006, reason: '' });
    expect(seen.errors).toEqual(['Unexpected server response: 401']);
    expect(() => ws.send(new Uint8Array(1))).not.toThrow(); // dropped once closed
  });

  it('closing while connecting, or a refused TCP connect, ends with an error and 1006', async () => {
    const url = await serve(() => undefined);
    const early = new LiteWebSocket(url);
    const seenEarly = watch(early);
    expect(() => early.send(new Uint8Array(1))).toThrow(/not open/);
    early.close();
    expect(await seenEarly.closed).toEqual({ code: 1006, reason: '' });
    expect(seenEarly.errors).toEqual(['WebSocket was closed before the connection was established']);

    const port = (server!.address() as AddressInfo).port;
    await new Promise<void>((r) => server!.close(() => r()));
    server = undefined;
    const refused = new LiteWebSocket(`ws://127.0.0.1:${port}/`);
    const seenRefused = watch(refused);
    expect(await seenRefused.closed).toEqual({ code: 1006, reason: '' });
    expect(seenRefused.errors[0]).toMatch(/ECONNREFUSED/);
  });

  it('names its source port from localPorts, skips a port another socket holds, and gives the port back at close', async () => {
    // A listener holds a port of 127.0.0.7: the allocator's first port.
    const holder = createTcpServer();
    await new Promise<void>((r) => holder.listen(0, '127.0.0.7', r));
    const taken = (holder.address() as AddressInfo).port;
    try {
      const ports = new LocalPorts('127.0.0.7', taken, Math.min(taken + 20, 65_535));
      let fromPort: number | undefined;
      const url = await serve((_ws, _from, port) => (fromPort = port));
      let opened = 0;
      const ws = new LiteWebSocket(url, { localAddress: '127.0.0.7', localPorts: ports, onOpen: () => opened++ });
      const seen = watch(ws);
      await until(() => opened === 1 && fromPort !== undefined, 'open');
      // The bind on the held port failed (EADDRINUSE) and the next port was taken, with no error shown.
      expect(fromPort).toBe(taken + 1);
      expect(seen.errors).toEqual([]);
      expect(ports.held).toBe(1);
      ws.close(1000);
      await seen.closed;
      await until(() => ports.held === 0, 'the port given back');
    } finally {
      await new Promise<void>((r) => holder.close(() => r()));
    }
  });

  it('LocalPorts hands ports out in turn, skips those held, and says when every one is held', () => {
    const ports = new LocalPorts('127.0.0.8', 40_000, 40_002);
    expect([ports.take(), ports.take()]).toEqual([40_000, 40_001]);
    ports.release(40_000);
    expect([ports.take(), ports.take()]).toEqual([40_002, 40_000]);
    expect(() => ports.take()).toThrow(/every source port of 127.0.0.8 in 40000-40002 is in use/);
    expect(() => new LocalPorts('127.0.0.8', 5, 3)).toThrow(RangeError);
  });

  it('refuses bad input clearly: a wss: URL and a reserved close code', async () => {
    expect(() => new LiteWebSocket('wss://127.0.0.1:1/')).toThrow(/ws: only/);
    const url = await serve(() => undefined);
    const ws = new LiteWebSocket(url);
    const seen = watch(ws);
    await until(() => ws.readyState === LiteWebSocket.OPEN, 'open');
    expect(() => ws.close(1006)).toThrow(/1000 or 3000-4999/);
    ws.close();
    expect((await seen.closed).code).toBe(1005); // no code sent: the server echoes none (RFC 6455 7.1.5)
  });
});
