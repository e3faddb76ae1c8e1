/**
 * Test kit of the socket server: a socket node (runtime node + socket server + a store) on a
 * real nats-server, tickets, and a WebSocket test client (`ws`) that speaks MessagePack through an
 * independent library (@msgpack/msgpack), so the wire stays standard.
 */
import WebSocket from 'ws';
import { decode, encode } from '@msgpack/msgpack';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { pino } from 'pino';
import { startNode, type ActorNode } from '../../runtime/mod.js';
import { sessionKind } from '../../actors/session/mod.js';
import { socketServerKind } from '../../actors/socket-server/mod.js';
import { startSocketServer, type SocketServerHandle, type SocketServerOptions } from '../../gateway/socket/mod.js';
import { connectionId } from '../../protocol/cluster/mod.js';
import { signTicket } from '../../gateway/ticket.js';
import { createCloudStore, storeKind, type CloudStore } from '../../actors/store/mod.js';
import { pushKind } from '../../actors/push/mod.js';
import type { ActorKind } from '../../runtime/mod.js';
import { fakeStoreKind } from './fixtures/fake-store.js';

export const SECRET = 'socket-test-secret';

/** Polls `cond` until it holds or the deadline passes (then throws naming `what`). */
export async function until(cond: () => boolean | Promise<boolean>, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

export interface SocketNode {
  readonly node: ActorNode;
  readonly server: SocketServerHandle;
  /** The node's own NATS connection (the test store publishes pushes on it). */
  readonly nc: NatsConnection;
  /** A fresh ticket for (userId, deviceId) on this node. */
  ticket(userId: string, deviceId: string, overrides?: { exp?: number; node?: string; run?: string | null; secret?: string; tex?: number }): string;
  /** Opens a client for (userId, deviceId) and waits for `welcome`. */
  client(userId: string, deviceId: string): Promise<TestClient>;
  [Symbol.asyncDispose](): Promise<void>;
}

export interface SocketNodeOptions {
  nodeId?: string;
  server?: Partial<SocketServerOptions>;
  /**
   * What serves the `store` kind on this node: `real` (default: actors/store over JetStream, with the
   * push server), `fake` (test/socket/fixtures/fake-store.ts, with hooks for failures) or `none`.
   */
  store?: 'real' | 'fake' | 'none';
  /** The runtime node's hostWaitMs (how long an ask waits for a node hosting its kind; default 3 s). */
  hostWaitMs?: number;
}

/** Roles and kinds of a node serving `store` as asked, and what to close after the node. */
export async function storeKinds(nc: NatsConnection, store: 'real' | 'fake' | 'none'): Promise<{ roles: string[]; kinds: ActorKind[]; cloud?: CloudStore }> {
  if (store === 'none') return { roles: [], kinds: [] };
  if (store === 'fake') return { roles: ['storage'], kinds: [fakeStoreKind(nc)] };
  const cloud = await createCloudStore({ nc });
  return { roles: ['storage', 'push'], kinds: [storeKind(cloud), pushKind()], cloud };
}

/** Starts a runtime node with roles socket (+ storage) and a socket server on a free port. */
export async function socketNode(natsUrl: string, options: SocketNodeOptions = {}): Promise<SocketNode> {
  const nc = await connect({ servers: natsUrl });
  const store = await storeKinds(nc, options.store ?? 'real');
  const node = await startNode({
    nats: nc,
    ...(options.nodeId !== undefined && { nodeId: options.nodeId }),
    roles: ['socket', ...store.roles],
    kinds: [socketServerKind(), sessionKind(), ...store.kinds],
    ...(options.hostWaitMs !== undefined && { hostWaitMs: options.hostWaitMs }),
    logger: pino({ level: process.env['LOG_LEVEL'] ?? 'error' }),
  });
  let server: SocketServerHandle;
  try {
    server = await startSocketServer(node, { ticketSecret: SECRET, ...options.server });
  } catch (err) {
    await node.close();
    await store.cloud?.close();
    await nc.close();
    throw err;
  }
  const ticket = (userId: string, deviceId: string, o: { exp?: number; node?: string; run?: string | null; secret?: string; tex?: number } = {}): string =>
    signTicket(o.secret ?? SECRET, {
      cid: connectionId(userId, deviceId),
      uid: userId,
      did: deviceId,
      node: o.node ?? node.id,
      // null: a ticket naming no run (from a distributor of an earlier version).
      ...(o.run !== null && { run: o.run ?? server.run }),
      exp: o.exp ?? Date.now() + 30_000,
      ...(o.tex !== undefined && { tex: o.tex }),
    });
  return {
    node,
    server,
    nc,
    ticket,
    client: async (userId, deviceId) => {
      const c = await TestClient.open(server.url, ticket(userId, deviceId));
      await c.take((f) => f['t'] === 'welcome');
      return c;
    },
    [Symbol.asyncDispose]: async () => {
      await server.close();
      await node.close();
      await store.cloud?.close();
      await nc.close().catch(() => undefined);
    },
  };
}

/** A node hosting only the store and push server, for socket nodes started without them. */
export async function storageNode(natsUrl: string): Promise<{ node: ActorNode; [Symbol.asyncDispose](): Promise<void> }> {
  const nc = await connect({ servers: natsUrl });
  const store = await storeKinds(nc, 'real');
  const node = await startNode({ nats: nc, roles: store.roles, kinds: store.kinds, logger: pino({ level: process.env['LOG_LEVEL'] ?? 'error' }) });
  return {
    node,
    [Symbol.asyncDispose]: async () => {
      await node.close();
      await store.cloud?.close();
      await nc.close().catch(() => undefined);
    },
  };
}

export type Frame = Record<string, unknown>;

/** The HTTP answer to an upgrade the server refused. */
export interface Refusal {
  readonly status: number;
  readonly body: string;
  /** The Retry-After header, when there is one. */
  readonly retryAfter?: string;
}

/** Opens `url?ticket=`; resolves with the open client, or the HTTP refusal. */
export function tryOpen(url: string, ticket: string | undefined): Promise<TestClient | Refusal> {
  const full = ticket === undefined ? url : `${url}?ticket=${encodeURIComponent(ticket)}`;
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(full);
    const client = new TestClient(ws);
    ws.once('open', () => resolve(client));
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => {
        ws.terminate();
        const retryAfter = res.headers['retry-after'];
        resolve({ status: res.statusCode ?? 0, body, ...(typeof retryAfter === 'string' && { retryAfter }) });
      });
    });
    ws.once('error', (err) => reject(err));
  });
}

/** A WebSocket client that records every frame it receives. */
export class TestClient {
  readonly frames: Frame[] = [];
  /** When each frame arrived (ms since the epoch), index for index with `frames`. */
  readonly receivedAt: number[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;
  #taken = new Set<number>();
  #closeInfo: { code: number; reason: string } | undefined;

  constructor(readonly ws: WebSocket) {
    ws.binaryType = 'nodebuffer';
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      this.receivedAt.push(Date.now());
      // The protocol has no text frames: record one so a test can see it was sent, never decode it.
      if (!isBinary) this.frames.push({ t: '__text__', text: data.toString() });
      else this.frames.push(decode(data, { useBigInt64: true }) as Frame);
    });
    this.closed = new Promise((resolve) => {
      ws.once('close', (code, reason) => {
        this.#closeInfo = { code, reason: reason.toString() };
        resolve(this.#closeInfo);
      });
    });
    ws.on('error', () => undefined); // surfaced through `closed`
  }

  static async open(url: string, ticket: string): Promise<TestClient> {
    const r = await tryOpen(url, ticket);
    if (!(r instanceof TestClient)) throw new Error(`upgrade refused: ${r.status} ${r.body}`);
    return r;
  }

  get isOpen(): boolean {
    return this.#closeInfo === undefined && this.ws.readyState === WebSocket.OPEN;
  }

  send(frame: Frame): void {
    this.ws.send(encode(frame, { useBigInt64: true }), { binary: true });
  }

  sendRaw(data: string | Uint8Array, binary: boolean): void {
    this.ws.send(data, { binary });
  }

  /** The earliest frame matching `match` not taken before; waits for it. */
  async take(match: (f: Frame) => boolean, timeoutMs = 15_000, what = 'a matching frame'): Promise<Frame> {
    let found: Frame | undefined;
    await until(
      () => {
        for (let i = 0; i < this.frames.length; i++) {
          if (this.#taken.has(i)) continue;
          const f = this.frames[i]!;
          if (match(f)) {
            this.#taken.add(i);
            found = f;
            return true;
          }
        }
        return false;
      },
      what,
      timeoutMs,
    );
    return found!;
  }

  /** Sends a request and waits for the answer with the same id. */
  async request(frame: Frame, timeoutMs = 15_000): Promise<Frame> {
    this.send(frame);
    const id = frame['id'];
    return this.take((f) => f['id'] === id && f['t'] !== undefined, timeoutMs, `the answer to ${String(frame['t'])} id ${String(id)}`);
  }

  /** Frames of type `t` received so far. */
  ofType(t: string): Frame[] {
    return this.frames.filter((f) => f['t'] === t);
  }

  /** Stops reading from the TCP socket (a client that does not read), and starts again. */
  pause(): void {
    (this.ws as unknown as { _socket: import('node:net').Socket })._socket.pause();
  }

  resume(): void {
    (this.ws as unknown as { _socket: import('node:net').Socket })._socket.resume();
  }

  close(): void {
    if (this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING) this.ws.close();
  }

  terminate(): void {
    this.ws.terminate();
  }
}

/** Closes every client (for afterEach / finally). */
export async function closeAll(clients: Iterable<TestClient>): Promise<void> {
  const list = [...clients];
  for (const c of list) c.terminate();
  await Promise.all(list.map((c) => Promise.race([c.closed, new Promise((r) => setTimeout(r, 2_000))])));
}
