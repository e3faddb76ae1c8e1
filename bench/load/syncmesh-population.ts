/**
 * Syncmesh devices in a load process: each a reference client (client/), whose connect goes through
 * the distributor (POST /v1/connect, keep-alive, from this process's source address) and whose
 * WebSocket to the socket node leaves from the same address. Each device's status is tracked (for the
 * reconnect storm) and `sync` frames are seen on the wire (for push latency): the receiving device
 * then pulls, as a real device does.
 */
import { createSyncClient, decodeFrame, type SyncClient, type WebSocketConstructor } from '../../client/mod.js';
import { percentile } from '../measure.js';
import { boundFetch } from './bound-fetch.js';
import { LiteWebSocket } from './lite-ws.js';
import { localPortsFor } from './local-ports.js';
import { openAll } from './open-pool.js';
import { PushLoad } from './push-load.js';
import type { LoadResult, OpenResult, PopulationSpec, WatchResult } from './ipc.js';
import type { Population } from './population.js';

/** The collection the push load writes to. */
export const LOAD_COLLECTION = 'bench';

interface Device {
  readonly user: number;
  readonly index: number;
  client: SyncClient | undefined;
  node: string | undefined;
  live: boolean;
  liveAt: number;
  downAt: number;
  /** The pair this device belongs to and whether it receives the pair's current push. */
  pair: number;
  receiving: boolean;
  /**
   * The last attempt's timeline (ms since the epoch): POST /v1/connect sent and answered (when it asked
   * the distributor: an attempt with the welcome's fallback ticket does not), WebSocket created and open.
   */
  postAt: number;
  postDoneAt: number;
  wsAt: number;
  wsOpenAt: number;
  /** A POST went out since the last WebSocket was created, and whether the last attempt had one. */
  postedSinceWs: boolean;
  attemptPosted: boolean;
}

type Spec = Extract<PopulationSpec, { kind: 'syncmesh' }>;

export class SyncmeshPopulation implements Population {
  readonly #spec: Spec;
  readonly #devices: Device[] = [];
  readonly #fetch;
  readonly #ws: (dev: Device) => WebSocketConstructor;
  /** Cross-node pairs: [sender-first device, other device]. */
  #pairs: [Device, Device][] = [];
  #load: PushLoad | undefined;
  /** Reasons of failed attempts (status `reconnecting` while not live), counted from `#reasonsSince`. */
  readonly #reasons = new Map<string, number>();
  #reasonsSince = Infinity;
  #failedAttempts = 0;

  constructor(spec: Spec, localAddress: string) {
    this.#spec = spec;
    // 64 keep-alive sockets to the distributor per process (boundFetch's default). They also pace a
    // reconnect storm's POSTs: with 512, P7 at 15k collapsed (not all back after 110 s; 20-29 s with 64).
    this.#fetch = boundFetch(localAddress);
    spec.users.forEach((_, user) => {
      for (let index = 0; index < spec.devicesPerUser; index++) {
        this.#devices.push({ user, index, client: undefined, node: undefined, live: false, liveAt: 0, downAt: 0, pair: -1, receiving: false, postAt: 0, postDoneAt: 0, wsAt: 0, wsOpenAt: 0, postedSinceWs: false, attemptPosted: false });
      }
    });
    // A WebSocket (lite-ws.ts: cheap, as a browser's native one is) from this process's source
    // address that shows `sync` frames to the push load.
    // Source ports named here, not searched for by the kernel (local-ports.ts: the search grows with the
    // connections the address holds, and the load processes share the cores with the servers).
    const localPorts = localPortsFor(localAddress);
    this.#ws = (dev) => {
      const onBinary = (data: Uint8Array): void => {
        const load = this.#load;
        if (!load || !dev.receiving) return;
        const frame = decodeFrame(data) as { t?: unknown; collection?: unknown };
        if (frame.t === 'sync' && frame.collection === LOAD_COLLECTION) load.received(dev.pair);
      };
      const onOpen = (): void => {
        dev.wsOpenAt = Date.now();
      };
      return class BoundWebSocket extends LiteWebSocket {
        constructor(url: string) {
          dev.wsAt = Date.now();
          dev.attemptPosted = dev.postedSinceWs;
          dev.postedSinceWs = false;
          super(url, { localAddress, localPorts, onOpen, onBinary });
        }
      };
    };
  }

  get size(): number {
    return this.#devices.length;
  }

  async open(concurrency: number, timeoutMs: number, progress: (opened: number, failed: number) => void): Promise<OpenResult> {
    const spec = this.#spec;
    const outcome = await openAll(
      this.#devices.length,
      concurrency,
      async (i) => {
        const dev = this.#devices[i]!;
        const user = spec.users[dev.user]!;
        const client = createSyncClient({
          distributorUrl: spec.distributorUrl,
          userId: user.userId,
          deviceId: `d${dev.index}`,
          token: user.token,
          fetch: (input, init) => {
            dev.postAt = Date.now();
            dev.postedSinceWs = true;
            return this.#fetch(input, init).then((r) => {
              dev.postDoneAt = Date.now();
              return r;
            });
          },
          WebSocket: this.#ws(dev),
          autoConnect: false,
        });
        dev.client = client;
        client.on('status', (e) => {
          if (e.status === 'connected') {
            dev.live = true;
            dev.liveAt = Date.now();
            dev.node = e.node;
          } else {
            // A wait before the next attempt (retryInMs set) after the first drop is a failed attempt.
            if (Date.now() >= this.#reasonsSince && e.status === 'reconnecting' && e.retryInMs !== undefined && e.reason !== undefined) {
              // Ids and ports vary per client: keep the words, so like reasons count together.
              const reason = e.reason.replace(/[0-9a-f]{8,}|\d+/g, '#').slice(0, 120);
              this.#reasons.set(reason, (this.#reasons.get(reason) ?? 0) + 1);
              if (!dev.live) this.#failedAttempts++;
            }
            if (dev.live) {
              dev.live = false;
              dev.downAt = Date.now();
            }
          }
        });
        client.reconnect();
        try {
          await client.whenConnected(timeoutMs);
        } catch (err) {
          dev.client = undefined;
          await client.close();
          throw err;
        }
      },
      progress,
    );
    const byNode: Record<string, number> = {};
    for (const d of this.#devices) if (d.live && d.node) byNode[d.node] = (byNode[d.node] ?? 0) + 1;
    this.#pairs = [];
    for (let u = 0; u < spec.users.length; u++) {
      const a = this.#devices[u * spec.devicesPerUser];
      const b = this.#devices[u * spec.devicesPerUser + 1];
      if (a?.live && b?.live && a.node !== b.node) {
        a.pair = b.pair = this.#pairs.length;
        this.#pairs.push([a, b]);
      }
    }
    return { ...outcome, byNode, crossPairs: this.#pairs.length };
  }

  load(ratePerSec: number, warmupMs: number, durationMs: number): Promise<LoadResult> {
    let n = 0;
    const load = new PushLoad(this.#pairs.length, (pair, seq) => {
      const [a, b] = this.#pairs[pair]!;
      // Alternate the direction, so both nodes send and receive.
      const [from, to] = seq % 2 === 0 ? [a, b] : [b, a];
      from.receiving = false;
      to.receiving = true;
      return from.client!.put(LOAD_COLLECTION, 'k', n++);
    });
    this.#load = load;
    return load.run(ratePerSec, warmupMs, durationMs).finally(() => {
      this.#load = undefined;
    });
  }

  async watchLive(sinceWallMs: number, node: string, timeoutMs: number): Promise<WatchResult> {
    const devices = this.#devices.filter((d) => d.client !== undefined);
    // The node each device was on when the watch began: those on `node` must drop and come back.
    const onNode = new Set(devices.filter((d) => d.node === node));
    this.#reasonsSince = sinceWallMs;
    this.#reasons.clear();
    this.#failedAttempts = 0;
    const curve: number[] = [];
    const deadline = Date.now() + timeoutMs;
    const back = (d: Device): boolean => d.live && d.downAt >= sinceWallMs && d.liveAt > d.downAt;
    for (;;) {
      const slot = Math.floor((Date.now() - sinceWallMs) / 100);
      // One pass, no arrays: the poll runs every 50 ms over up to 5,000 devices during the storm it measures.
      let liveNow = 0;
      let wentDown = 0;
      let allBack = true;
      for (const d of devices) {
        if (d.live) liveNow++;
        if (d.downAt >= sinceWallMs) wentDown++;
        if (allBack && !(d.live && (!onNode.has(d) || back(d)))) allBack = false;
      }
      while (curve.length <= slot) curve.push(liveNow);
      if (allBack || Date.now() > deadline) {
        const lastLive = devices.reduce((m, d) => (back(d) ? Math.max(m, d.liveAt) : m), 0);
        this.#reasonsSince = Infinity;
        const returned = devices.filter(back);
        const stages = stageTimes(returned);
        const viaFallback = returned.reduce((n, d) => (d.attemptPosted ? n : n + 1), 0);
        return {
          clients: devices.length, live: liveNow, lastLiveWallMs: lastLive, wentDown, liveCurve: curve, reasons: Object.fromEntries(this.#reasons),
          failedAttempts: this.#failedAttempts, stages, viaFallback,
        };
      }
      // Times come from each device's own events (liveAt, downAt): the poll only notices the end.
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  async close(): Promise<void> {
    await Promise.all(this.#devices.map((d) => d.client?.close()));
    for (const d of this.#devices) d.client = undefined;
  }
}

/** p50, p90 and max of the stages of the devices' last attempts (see WatchResult.stages). */
function stageTimes(devices: readonly Device[]): Record<string, [number, number, number]> {
  const stats = (xs: number[]): [number, number, number] => {
    const v = xs.filter((x) => Number.isFinite(x) && x >= 0).sort((a, b) => a - b);
    return v.length === 0 ? [0, 0, 0] : [percentile(v, 0.5), percentile(v, 0.9), v[v.length - 1]!];
  };
  const posted = devices.filter((d) => d.attemptPosted);
  return {
    retry: stats(devices.map((d) => (d.attemptPosted ? d.postAt : d.wsAt) - d.downAt)),
    ...(posted.length > 0 && { connect: stats(posted.map((d) => d.postDoneAt - d.postAt)) }),
    open: stats(devices.map((d) => d.wsOpenAt - d.wsAt)),
    welcome: stats(devices.map((d) => d.liveAt - d.wsOpenAt)),
  };
}
