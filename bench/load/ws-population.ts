/**
 * Plain WebSockets (the `ws` client) to one URL, idle once open: the load for the ws and
 * uWebSockets.js peers' connection memory and accept rate.
 */
import WebSocket from 'ws';
import { openAll } from './open-pool.js';
import type { OpenResult, PopulationSpec } from './ipc.js';
import type { Population } from './population.js';

type Spec = Extract<PopulationSpec, { kind: 'ws' }>;

export class WsPopulation implements Population {
  readonly #sockets: WebSocket[] = [];

  constructor(
    private readonly spec: Spec,
    private readonly localAddress: string,
  ) {}

  get size(): number {
    return this.spec.count;
  }

  async open(concurrency: number, timeoutMs: number, progress: (opened: number, failed: number) => void): Promise<OpenResult> {
    const outcome = await openAll(
      this.spec.count,
      concurrency,
      (i) =>
        new Promise<void>((resolve, reject) => {
          const ws = new WebSocket(this.spec.url, { localAddress: this.localAddress, perMessageDeflate: false, handshakeTimeout: timeoutMs });
          ws.once('open', () => {
            this.#sockets[i] = ws;
            resolve();
          });
          ws.once('error', reject);
        }),
      progress,
    );
    return { ...outcome, byNode: { [this.spec.url]: outcome.opened }, crossPairs: 0 };
  }

  async close(): Promise<void> {
    await Promise.all(
      this.#sockets.map(
        (ws) =>
          new Promise<void>((resolve) => {
            if (ws.readyState === WebSocket.CLOSED) return resolve();
            ws.once('close', () => resolve());
            ws.terminate();
          }),
      ),
    );
    this.#sockets.length = 0;
  }
}
