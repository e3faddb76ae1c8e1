/**
 * Reads a node's Prometheus endpoint (`--metrics-port`): the bench's window into a node process
 * without a side channel of its own.
 */
import { BenchWorkerError } from '../errors.js';

/** The samples of one scrape: metric name to value, summed over its label sets (a node labels each with `node`). */
export type Samples = ReadonlyMap<string, number>;

/** Parses the Prometheus text format (comments skipped). */
export function parseSamples(text: string): Samples {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const space = line.lastIndexOf(' ');
    if (space <= 0) continue;
    const value = Number(line.slice(space + 1));
    if (Number.isNaN(value)) continue;
    const brace = line.indexOf('{');
    const name = brace > 0 && brace < space ? line.slice(0, brace) : line.slice(0, space);
    out.set(name, (out.get(name) ?? 0) + value);
  }
  return out;
}

/** A node's metrics as the Prometheus text. */
export async function scrapeText(metricsUrl: string): Promise<string> {
  const res = await fetch(metricsUrl);
  if (!res.ok) throw new BenchWorkerError(`GET ${metricsUrl} answered ${res.status}`);
  return res.text();
}

export async function scrape(metricsUrl: string): Promise<Samples> {
  return parseSamples(await scrapeText(metricsUrl));
}

/** prom-client's event-loop delay, since the previous scrape (each scrape resets it). */
export const LAG_MAX = 'nodejs_eventloop_lag_max_seconds';
export const LAG_P99 = 'nodejs_eventloop_lag_p99_seconds';

/**
 * Resets the node's record of its longest event-loop delay: prom-client's default metric
 * `nodejs_eventloop_lag_max_seconds` is read from a histogram that every scrape resets.
 */
export async function resetEventLoopLag(metricsUrl: string): Promise<void> {
  await scrape(metricsUrl);
}

/**
 * Waits until `metric` of the node reads `value` (a socket node's sessions reaching 0, say) and
 * returns the longest event-loop delay (ms) the node had meanwhile, since the previous scrape: each
 * scrape resets it, so the longest of all scrapes is kept.
 */
export async function waitMetric(metricsUrl: string, metric: string, value: number, timeoutMs: number): Promise<{ lagMaxMs: number }> {
  const deadline = Date.now() + timeoutMs;
  let last: number | undefined;
  let lagMaxMs = 0;
  while (Date.now() < deadline) {
    const samples = await scrape(metricsUrl);
    lagMaxMs = Math.max(lagMaxMs, (samples.get(LAG_MAX) ?? 0) * 1000);
    last = samples.get(metric);
    if (last === value) return { lagMaxMs };
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new BenchWorkerError(`${metric} of ${metricsUrl} did not reach ${value} within ${timeoutMs} ms (last ${String(last)})`);
}

/**
 * A mass disconnect measured on socket nodes: resets their stall record, runs `close` (every client
 * closing at once), waits until each node holds no session, and returns how long that took and each
 * node's longest event-loop stall meanwhile.
 */
export async function massCloseStalls(metricsUrls: readonly string[], close: () => Promise<void>, timeoutMs = 120_000): Promise<{ doneMs: number; lagMaxMs: number[] }> {
  await Promise.all(metricsUrls.map((u) => resetEventLoopLag(u)));
  const start = Date.now();
  await close();
  const waited = await Promise.all(metricsUrls.map((u) => waitMetric(u, 'syncmesh_socket_sessions', 0, timeoutMs)));
  return { doneMs: Date.now() - start, lagMaxMs: waited.map((w) => w.lagMaxMs) };
}

/** The longest event-loop stall (ms) of each node since its previous scrape (which it resets). */
export async function eventLoopLagMax(metricsUrls: readonly string[]): Promise<number[]> {
  return Promise.all(metricsUrls.map(async (u) => ((await scrape(u)).get(LAG_MAX) ?? 0) * 1000));
}
