/**
 * Plain WebSockets to one URL, idle once open: the load for the ws and uWebSockets.js peers'
 * connection memory and accept rate. The same client as the Syncmesh devices' (lite-ws.ts), so the
 * accept rates compare servers, not clients.
 */
import { LiteWebSocket } from './lite-ws.js';
import { localPortsFor } from './local-ports.js';
import { openAll } from './open-pool.js';
import type { OpenResult, PopulationSpec } from './ipc.js';
import type { Population } from './population.js';

type Spec = Extract<PopulationSpec, { kind: 'ws' }>;

export class WsPopulation implements Population {
  readonly #sockets: LiteWebSocket[] = [];

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
          let error = 'closed before it opened';
          const timer = setTimeout(() => ws.close(), timeoutMs);
          const ws = new LiteWebSocket(this.spec.url, {
            localAddress: this.localAddress,
            localPorts: localPortsFor(this.localAddress),
            onOpen: () => {
              clearTimeout(timer);
              this.#sockets[i] = ws;
              resolve();
            },
          });
          ws.onerror = ((ev: { message: string }) => (error = ev.message)) as (ev: never) => void;
          ws.onclose = (() => {
            clearTimeout(timer);
            reject(new Error(`could not open a WebSocket to ${this.spec.url}: ${error}`));
          }) as (ev: never) => void;
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
            if (ws.readyState === LiteWebSocket.CLOSED) return resolve();
            ws.onclose = resolve as (ev: never) => void;
            ws.terminate();
          }),
      ),
    );
    this.#sockets.length = 0;
  }
}
