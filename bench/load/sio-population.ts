/**
 * Socket.IO 4 clients (socket.io-client, websocket transport, one Manager each): device d of each user
 * connects to urls[d % urls.length] with its user id in the handshake's `auth`; the server puts it in
 * the user's room. The push load emits `c` at one device; the server emits `s` to the rest of the
 * user's room (through the Redis adapter when the other device is on the other node).
 */
import { io, type Socket } from 'socket.io-client';
import { openAll } from './open-pool.js';
import { PushLoad } from './push-load.js';
import type { LoadResult, OpenResult, PopulationSpec } from './ipc.js';
import type { Population } from './population.js';

type Spec = Extract<PopulationSpec, { kind: 'sio' }>;

interface Device {
  readonly url: string;
  socket: Socket | undefined;
}

export class SioPopulation implements Population {
  readonly #devices: Device[] = [];
  #load: PushLoad | undefined;
  #pairs: [Device, Device][] = [];

  constructor(
    private readonly spec: Spec,
    private readonly localAddress: string,
  ) {
    for (let u = 0; u < spec.users.length; u++) {
      for (let d = 0; d < spec.devicesPerUser; d++) this.#devices.push({ url: spec.urls[d % spec.urls.length]!, socket: undefined });
    }
  }

  get size(): number {
    return this.#devices.length;
  }

  async open(concurrency: number, timeoutMs: number, progress: (opened: number, failed: number) => void): Promise<OpenResult> {
    const per = this.spec.devicesPerUser;
    const outcome = await openAll(
      this.#devices.length,
      concurrency,
      (i) =>
        new Promise<void>((resolve, reject) => {
          const dev = this.#devices[i]!;
          const user = Math.floor(i / per);
          const socket = io(dev.url, {
            transports: ['websocket'],
            forceNew: true,
            reconnection: false,
            timeout: timeoutMs,
            localAddress: this.localAddress,
            auth: { userId: this.spec.users[user] },
          } as Parameters<typeof io>[1]);
          socket.on('s', (p: { pair: number; seq: number }) => this.#load?.received(p.pair, p.seq));
          socket.once('connect', () => {
            dev.socket = socket;
            resolve();
          });
          socket.once('connect_error', (err) => {
            socket.close();
            reject(err);
          });
        }),
      progress,
    );
    const byNode: Record<string, number> = {};
    for (const d of this.#devices) if (d.socket) byNode[d.url] = (byNode[d.url] ?? 0) + 1;
    this.#pairs = [];
    for (let u = 0; u < this.spec.users.length; u++) {
      const a = this.#devices[u * per];
      const b = this.#devices[u * per + 1];
      if (a?.socket && b?.socket && a.url !== b.url) this.#pairs.push([a, b]);
    }
    return { ...outcome, byNode, crossPairs: this.#pairs.length };
  }

  load(ratePerSec: number, warmupMs: number, durationMs: number): Promise<LoadResult> {
    const load = new PushLoad(this.#pairs.length, (pair, seq) => {
      const [a, b] = this.#pairs[pair]!;
      (seq % 2 === 0 ? a : b).socket!.emit('c', { pair, seq });
    });
    this.#load = load;
    return load.run(ratePerSec, warmupMs, durationMs).finally(() => {
      this.#load = undefined;
    });
  }

  async close(): Promise<void> {
    for (const d of this.#devices) d.socket?.close();
    for (const d of this.#devices) d.socket = undefined;
  }
}
