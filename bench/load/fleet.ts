/**
 * The client side of the load: several load processes, each from its own 127.0.0.x source address,
 * opened and driven together. Progress of long phases (connections open, rate, elapsed) goes to the
 * log (stderr).
 */
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import { unlessAborted } from '../errors.js';
import { LoadProcess } from './load-process.js';
import { mergeEncoded, summarize, type LatencySummary } from './hist.js';
import type { LoadResult, OpenResult, PopulationSpec, WatchResult } from './ipc.js';

const CLIENT_SCRIPT = fileURLToPath(new URL('./client-process.js', import.meta.url));

/** Connections one load process holds at most: well under its 20,000 open files (HTTP keep-alive sockets and pipes need some). */
export const MAX_PER_PROCESS = 5_000;

/** Source address of load process i: 127.0.0.10, .11, ... (all of 127/8 is loopback on Linux). */
export function sourceAddress(i: number): string {
  return `127.0.0.${10 + i}`;
}

export interface OpenSummary {
  readonly opened: number;
  readonly failed: number;
  readonly firstError?: string;
  /** Wall time of the whole phase, and connections per second over it. */
  readonly elapsedMs: number;
  readonly perSec: number;
  readonly byNode: Readonly<Record<string, number>>;
  readonly crossPairs: number;
  /** Cross-node pairs held by each load process, in process order (for sharing a push rate). */
  readonly pairsPerProcess: readonly number[];
}

export interface LoadSummary {
  readonly sent: number;
  readonly received: number;
  readonly skipped: number;
  readonly errors: number;
  readonly firstError?: string;
  readonly push: LatencySummary;
  readonly answer?: LatencySummary;
  /** Pushes sent per second, measured. */
  readonly ratePerSec: number;
  /** Pushes slower than push-load.ts SLOW_PUSH_MS, by second of the measured window, all processes. */
  readonly slowBySecond: readonly number[];
}

export interface WatchSummary {
  readonly clients: number;
  readonly live: number;
  readonly wentDown: number;
  readonly lastLiveWallMs: number;
  /** Clients live per 100 ms slot, summed over processes. */
  readonly liveCurve: readonly number[];
  readonly reasons: Readonly<Record<string, number>>;
  readonly failedAttempts: number;
  /** Per load process: the stages of the returning clients' last attempts (WatchResult.stages). */
  readonly stages: readonly Readonly<Record<string, readonly [number, number, number]>>[];
  /** Of the clients that came back, those whose last attempt used their welcome's fallback ticket (no POST). */
  readonly viaFallback: number;
}

export class Fleet {
  private constructor(
    readonly processes: readonly LoadProcess[],
    private readonly log: Logger,
    /** Aborts the phase under way (open, load, watch): it rejects with BenchAbortedError at once. */
    private readonly signal: AbortSignal | undefined,
  ) {}

  /** Starts `count` load processes. */
  static async start(count: number, log: Logger, execArgv: readonly string[] = [], signal?: AbortSignal): Promise<Fleet> {
    const processes = await Promise.all(
      Array.from({ length: count }, (_, i) => LoadProcess.start({ name: `load-${i + 1}`, script: CLIENT_SCRIPT, execArgv: ['--max-old-space-size=4096', ...execArgv] })),
    );
    return new Fleet(processes, log, signal);
  }

  /** Load processes needed for `connections`. */
  static processesFor(connections: number): number {
    return Math.max(2, Math.ceil(connections / MAX_PER_PROCESS));
  }

  /** Opens population `spec(i)` in load process i, every process at once; logs progress every 2 s. */
  async open(label: string, spec: (i: number, of: number) => PopulationSpec, o: { concurrency: number; timeoutMs: number; total: number }): Promise<OpenSummary> {
    const start = performance.now();
    for (const p of this.processes) p.progress = { opened: 0, failed: 0 };
    const ticker = setInterval(() => {
      const opened = this.processes.reduce((a, p) => a + p.progress.opened, 0);
      const failed = this.processes.reduce((a, p) => a + p.progress.failed, 0);
      const s = (performance.now() - start) / 1000;
      this.log.info(`${label}: ${opened}/${o.total} connections open${failed ? ` (${failed} failed)` : ''}, ${Math.round(opened / s)}/s, ${s.toFixed(1)} s`);
    }, 2_000);
    let results: OpenResult[];
    try {
      results = await unlessAborted(Promise.all(
        this.processes.map((p, i) =>
          p
            .request({ op: 'open', population: spec(i, this.processes.length), localAddress: sourceAddress(i), concurrency: o.concurrency, timeoutMs: o.timeoutMs }, 'opened')
            .then((a) => a.result),
        ),
      ), this.signal);
    } finally {
      clearInterval(ticker);
    }
    const elapsedMs = performance.now() - start;
    const opened = results.reduce((a, r) => a + r.opened, 0);
    const byNode: Record<string, number> = {};
    for (const r of results) for (const [k, v] of Object.entries(r.byNode)) byNode[k] = (byNode[k] ?? 0) + v;
    const firstError = results.find((r) => r.firstError !== undefined)?.firstError;
    const summary: OpenSummary = {
      opened,
      failed: results.reduce((a, r) => a + r.failed, 0),
      ...(firstError !== undefined && { firstError }),
      elapsedMs,
      perSec: (opened * 1000) / elapsedMs,
      byNode,
      crossPairs: results.reduce((a, r) => a + r.crossPairs, 0),
      pairsPerProcess: results.map((r) => r.crossPairs),
    };
    this.log.info(`${label}: ${summary.opened} open, ${summary.failed} failed in ${(elapsedMs / 1000).toFixed(1)} s (${Math.round(summary.perSec)}/s)${firstError ? `; first error: ${firstError}` : ''}`);
    return summary;
  }

  /** Targeted pushes at `ratePerSec` in total, shared by the processes in proportion to their pairs. */
  async load(label: string, ratePerSec: number, warmupMs: number, durationMs: number, pairsPerProcess: readonly number[]): Promise<LoadSummary> {
    const totalPairs = pairsPerProcess.reduce((a, b) => a + b, 0);
    this.log.info(`${label}: ${ratePerSec}/s over ${totalPairs} cross-node pairs, ${warmupMs} ms warm-up then ${durationMs} ms measured`);
    const ticker = setInterval(() => this.log.info(`${label}: running`), 5_000);
    let results: LoadResult[];
    try {
      results = await unlessAborted(Promise.all(
        this.processes.map((p, i) =>
          p.request({ op: 'load', ratePerSec: totalPairs === 0 ? 0 : (ratePerSec * (pairsPerProcess[i] ?? 0)) / totalPairs, warmupMs, durationMs }, 'loaded').then((a) => a.result),
        ),
      ), this.signal);
    } finally {
      clearInterval(ticker);
    }
    const answers = results.flatMap((r) => (r.answerHist !== undefined ? [r.answerHist] : []));
    const sent = results.reduce((a, r) => a + r.sent, 0);
    const firstError = results.find((r) => r.firstError !== undefined)?.firstError;
    return {
      sent,
      received: results.reduce((a, r) => a + r.received, 0),
      skipped: results.reduce((a, r) => a + r.skipped, 0),
      errors: results.reduce((a, r) => a + r.errors, 0),
      ...(firstError !== undefined && { firstError }),
      push: summarize(mergeEncoded(results.map((r) => r.pushHist))),
      ...(answers.length > 0 && { answer: summarize(mergeEncoded(answers)) }),
      ratePerSec: (sent * 1000) / durationMs,
      slowBySecond: sumBySlot(results.map((r) => r.slowBySecond ?? [])),
    };
  }

  /** Resolves when every client that was on `node` dropped after `sinceWallMs` and is live again (or at the timeout). */
  async watchLive(sinceWallMs: number, node: string, timeoutMs: number): Promise<WatchSummary> {
    const results: WatchResult[] = await unlessAborted(Promise.all(this.processes.map((p) => p.request({ op: 'watch-live', sinceWallMs, node, timeoutMs }, 'watched').then((a) => a.result))), this.signal);
    const slots = Math.max(0, ...results.map((r) => r.liveCurve.length));
    const liveCurve = Array.from({ length: slots }, (_, s) => results.reduce((a, r) => a + (r.liveCurve[Math.min(s, r.liveCurve.length - 1)] ?? 0), 0));
    return {
      clients: results.reduce((a, r) => a + r.clients, 0),
      live: results.reduce((a, r) => a + r.live, 0),
      wentDown: results.reduce((a, r) => a + r.wentDown, 0),
      lastLiveWallMs: Math.max(0, ...results.map((r) => r.lastLiveWallMs)),
      liveCurve,
      reasons: mergeCounts(results.map((r) => r.reasons)),
      failedAttempts: results.reduce((a, r) => a + r.failedAttempts, 0),
      stages: results.map((r) => r.stages ?? {}),
      viaFallback: results.reduce((a, r) => a + (r.viaFallback ?? 0), 0),
    };
  }

  /** Closes every connection (the processes stay). */
  async close(): Promise<void> {
    await Promise.all(this.processes.map((p) => p.request({ op: 'close' }, 'closed')));
  }

  async stop(): Promise<void> {
    await Promise.all(this.processes.map((p) => p.stop()));
  }
}

function mergeCounts(all: readonly Readonly<Record<string, number>>[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const m of all) for (const [k, v] of Object.entries(m)) out[k] = (out[k] ?? 0) + v;
  return out;
}

/** Element-wise sum of series of unequal length. */
function sumBySlot(series: readonly (readonly number[])[]): number[] {
  const out: number[] = [];
  for (const s of series) s.forEach((v, i) => (out[i] = (out[i] ?? 0) + v));
  return Array.from(out, (v) => v ?? 0);
}
