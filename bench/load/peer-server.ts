/**
 * A peer's WebSocket server in its own process, so its RSS is its own: `ws` (the ws package, no
 * compression), `uws` (bare uWebSockets.js, no per-connection state), `sio` (Socket.IO 4, one node) or
 * `sio-redis` (Socket.IO 4 with @socket.io/redis-adapter, one of several nodes). Socket.IO servers put
 * each socket in its user's room (from the handshake's `auth.userId`) and answer an emitted `c` with
 * `s` to the rest of the room: the targeted emit the P5 target compares with.
 *
 *   node dist/bench/load/peer-server.js ws|uws|sio|sio-redis [redis-url]    (forked, reports over IPC)
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as uWS from 'uWebSockets.js';
import { WebSocketServer } from 'ws';
import { Server } from 'socket.io';
import { createAdapter } from '@socket.io/redis-adapter';
import { createClient } from 'redis';
import type { FromLoad, ToLoad } from './ipc.js';

const kind = process.argv[2];
const redisUrl = process.argv[3];

function send(msg: FromLoad): void {
  process.send?.(msg);
}

async function listenHttp(server: ReturnType<typeof createServer>): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  return (server.address() as AddressInfo).port;
}

async function start(): Promise<string> {
  switch (kind) {
    case 'ws': {
      const http = createServer();
      const wss = new WebSocketServer({ server: http, perMessageDeflate: false });
      wss.on('connection', (ws) => ws.on('error', () => undefined));
      return `ws://127.0.0.1:${await listenHttp(http)}/`;
    }
    case 'uws': {
      const app = uWS.App().ws('/*', { idleTimeout: 120, maxPayloadLength: 16 * 1024 });
      const port = await new Promise<number>((resolve, reject) =>
        app.listen('127.0.0.1', 0, (s) => (s ? resolve(uWS.us_socket_local_port(s as unknown as uWS.us_socket)) : reject(new Error('uWebSockets.js could not listen')))),
      );
      return `ws://127.0.0.1:${port}/`;
    }
    case 'sio':
    case 'sio-redis': {
      const http = createServer();
      const io = new Server(http, { serveClient: false });
      if (kind === 'sio-redis') {
        if (!redisUrl) throw new Error('sio-redis needs the Redis URL as second argument');
        const pub = createClient({ url: redisUrl });
        const sub = pub.duplicate();
        await Promise.all([pub.connect(), sub.connect()]);
        io.adapter(createAdapter(pub, sub));
      }
      io.on('connection', (socket) => {
        const userId = (socket.handshake.auth as { userId?: unknown }).userId;
        if (typeof userId !== 'string') {
          socket.disconnect(true);
          return;
        }
        const room = `user:${userId}`;
        void socket.join(room);
        socket.on('c', (payload: unknown) => {
          socket.to(room).emit('s', payload);
        });
      });
      return `http://127.0.0.1:${await listenHttp(http)}`;
    }
    default:
      throw new Error(`unknown peer server kind ${JSON.stringify(kind)}: ws, uws, sio or sio-redis`);
  }
}

process.on('message', (msg: ToLoad) => {
  if (msg.op === 'rss') send({ op: 'rss', id: msg.id, rss: process.memoryUsage.rss() });
  else send({ op: 'failed', id: msg.id, error: `a peer server answers only rss, not ${msg.op}` });
});
process.on('disconnect', () => process.exit(0));

start().then(
  (url) => send({ op: 'ready', pid: process.pid, url }),
  (err: unknown) => {
    process.stderr.write(`peer server ${kind} failed to start: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
