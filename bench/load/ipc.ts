/**
 * Messages between the bench's main process and its load processes (client processes and peer
 * servers), over the IPC channel of child_process.fork. Every request carries an `id` that its
 * answer repeats.
 */

/** What a population of client connections is made of. */
export type PopulationSpec =
  | {
      /** Syncmesh devices through the reference client library: distributor, ticket, socket node. */
      readonly kind: 'syncmesh';
      readonly distributorUrl: string;
      readonly users: readonly { readonly userId: string; readonly token: string }[];
      readonly devicesPerUser: number;
    }
  | {
      /** Plain WebSockets (`ws` client) to one URL: the ws and uWebSockets.js peers. */
      readonly kind: 'ws';
      readonly url: string;
      readonly count: number;
    }
  | {
      /**
       * Socket.IO 4 clients (websocket transport). Device d of each user goes to urls[d % urls.length],
       * so with two nodes a user's two devices are on different nodes.
       */
      readonly kind: 'sio';
      readonly urls: readonly string[];
      readonly users: readonly string[];
      readonly devicesPerUser: number;
    };

export type ToLoad =
  | { readonly op: 'open'; readonly id: number; readonly population: PopulationSpec; readonly localAddress: string; readonly concurrency: number; readonly timeoutMs: number }
  | {
      /** Targeted pushes at a fixed rate between devices of one user held on different nodes. */
      readonly op: 'load';
      readonly id: number;
      readonly ratePerSec: number;
      readonly warmupMs: number;
      readonly durationMs: number;
    }
  | {
      /** Resolves once every client of this process is connected again after `sinceWallMs`. */
      readonly op: 'watch-live';
      readonly id: number;
      readonly sinceWallMs: number;
      /** Node id whose clients must all drop and come back before this resolves. */
      readonly node: string;
      readonly timeoutMs: number;
    }
  | { readonly op: 'close'; readonly id: number }
  | { readonly op: 'rss'; readonly id: number };

export interface OpenResult {
  readonly opened: number;
  readonly failed: number;
  readonly firstError?: string;
  readonly elapsedMs: number;
  /** Devices per socket node (Syncmesh) or per URL (Socket.IO). */
  readonly byNode: Readonly<Record<string, number>>;
  /** Pairs of one user's devices on different nodes, usable by `load`. */
  readonly crossPairs: number;
}

export interface LoadResult {
  readonly sent: number;
  readonly received: number;
  /** Ticks where the chosen pair still had a push in flight: not sent, so the rate fell short. */
  readonly skipped: number;
  readonly errors: number;
  readonly firstError?: string;
  /** Sender's emit to the other device's receipt, compressed HDR histogram (us). */
  readonly pushHist: string;
  /** Sender's emit to its own answer (Syncmesh `committed`), when the peer has one. */
  readonly answerHist?: string;
  /** Pushes slower than push-load.ts SLOW_PUSH_MS, by second of the measured window. */
  readonly slowBySecond?: readonly number[];
  readonly elapsedMs: number;
}

export interface WatchResult {
  readonly clients: number;
  /** Clients live now. */
  readonly live: number;
  /** Wall-clock time the last of them went live after `sinceWallMs`. */
  readonly lastLiveWallMs: number;
  /** How many went down (saw their socket close) after `sinceWallMs`. */
  readonly wentDown: number;
  /** Per 100 ms after sinceWallMs: how many were live again by then (for the chart). */
  readonly liveCurve: readonly number[];
  /** Why attempts failed after sinceWallMs (the client's status reasons), with counts. */
  readonly reasons: Readonly<Record<string, number>>;
  /** Failed attempts after sinceWallMs, summed over clients. */
  readonly failedAttempts: number;
  /**
   * Where the clients that came back spent their time, per stage of their last attempt (ms: p50, p90,
   * max): drop to the attempt's start (`retry`: its POST /v1/connect, or its WebSocket when it used the
   * welcome's fallback ticket), the POST's answer (`connect`, attempts that asked the distributor), the
   * WebSocket open (`open`), then the welcome (`welcome`).
   */
  readonly stages?: Readonly<Record<string, readonly [number, number, number]>>;
  /** Of the clients that came back, how many did so with the fallback ticket of their last welcome (no POST). */
  readonly viaFallback?: number;
}

export type FromLoad =
  | { readonly op: 'ready'; readonly pid: number; readonly url?: string; readonly urls?: readonly string[] }
  | { readonly op: 'progress'; readonly opened: number; readonly failed: number }
  | { readonly op: 'opened'; readonly id: number; readonly result: OpenResult }
  | { readonly op: 'loaded'; readonly id: number; readonly result: LoadResult }
  | { readonly op: 'watched'; readonly id: number; readonly result: WatchResult }
  | { readonly op: 'closed'; readonly id: number }
  | { readonly op: 'rss'; readonly id: number; readonly rss: number }
  | { readonly op: 'failed'; readonly id: number; readonly error: string };
