/**
 * Test kit: a TCP proxy in front of a server (a nats-server), so a test can cut one process's link to
 * it and restore it, leaving every other process's connections alone.
 *
 *   await using px = await tcpProxy(4222);
 *   // start a process with nats://127.0.0.1:${px.port}
 *   px.cut();      // drops every proxied connection and refuses new ones
 *   px.restore();  // accepts again
 */
import { createConnection, createServer, type Server, type Socket } from 'node:net';

export interface TcpProxy {
  readonly port: number;
  /** Connections the proxy refused while cut. */
  readonly refused: number;
  /** Proxied connections open now. */
  readonly open: number;
  cut(): void;
  restore(): void;
  [Symbol.asyncDispose](): Promise<void>;
}

export async function tcpProxy(targetPort: number, targetHost = '127.0.0.1'): Promise<TcpProxy> {
  const pairs = new Set<[Socket, Socket]>();
  let isCut = false;
  let refused = 0;
  const server: Server = createServer((client) => {
    if (isCut) {
      refused++;
      client.destroy();
      return;
    }
    const upstream = createConnection({ host: targetHost, port: targetPort });
    const pair: [Socket, Socket] = [client, upstream];
    pairs.add(pair);
    const end = (): void => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return {
    port,
    get refused() {
      return refused;
    },
    get open() {
      return pairs.size;
    },
    cut: () => {
      isCut = true;
      for (const [a, b] of [...pairs]) {
        a.destroy();
        b.destroy();
      }
      pairs.clear();
    },
    restore: () => {
      isCut = false;
    },
    [Symbol.asyncDispose]: async () => {
      isCut = true;
      for (const [a, b] of pairs) {
        a.destroy();
        b.destroy();
      }
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
