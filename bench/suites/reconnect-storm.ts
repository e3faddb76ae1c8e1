/**
 * P7: reconnect storm. The socket node P4 filled (every one of its N connections on it) is killed with
 * kill -9 once two more socket nodes are up and it has given each of its clients a fallback offer for
 * one of them (`{t:"fallback"}` frames after the servers changed: the steady state of a cluster whose
 * nodes are all up). Its clients, reference clients each, notice the drop and connect to the survivor of
 * their offer with its ticket; a client without a usable offer asks the distributor (excluding the dead
 * node, which membership still lists for a few seconds). Timed from the kill to the moment the last of
 * them has its welcome. Context: the rate bare uWebSockets.js accepted connections at in P4 (one
 * process, same machine).
 */
import { BenchAbortedError } from '../errors.js';
import type { ScaleResult } from '../scale-report.js';
import type { IdleMemoryOutcome } from './idle-memory.js';
import type { LoadContext } from './load-context.js';
import { eventLoopLagMax, massCloseStalls, resetEventLoopLag, scrape } from '../load/node-metrics.js';
import { listenOverflows } from '../load/listen-overflows.js';
import { cpuMeter } from '../load/proc.js';
import { availableParallelism } from 'node:os';

/** Long enough for a slow storm on a loaded machine to finish, so its real duration is reported. */
const WATCH_TIMEOUT_MS = 300_000;

export async function runReconnectStorm(ctx: LoadContext, p4: IdleMemoryOutcome): Promise<ScaleResult> {
  const n = p4.opened?.opened ?? 0;
  const base = {
    id: 'P7' as const,
    title: 'reconnect storm: kill -9 of a socket node, its clients live again on the survivors',
    setting: `${n.toLocaleString('en-US')} clients on the killed node, 2 surviving socket nodes; reference clients (fast retry after an abnormal drop, then jittered backoff)`,
    target: `all ${ctx.options.connections < 15_000 ? `${ctx.options.connections.toLocaleString('en-US')} (TARGETS.md: 15,000)` : '15,000'} clients live again within 10 s`,
    columns: [
      { key: 's', label: 'seconds', digits: 2 },
      { key: 'rate', label: 'conns/s', digits: 0 },
      { key: 'n', label: 'clients', digits: 0 },
    ],
  };
  const uwsRow = p4.uwsAcceptPerSec !== undefined ? [{ name: 'bare uWebSockets.js accept rate (P4)', values: { rate: p4.uwsAcceptPerSec }, note: 'context: one process accepting, same machine' }] : [];
  if (!p4.node || n === 0) {
    return { ...base, rows: [{ name: 'ours: clients live again', values: {}, error: 'P4 left no connections to knock over (see P4)' }, ...uwsRow], checks: [{ what: 'time until all live again', value: undefined, op: '<=', bound: 10, unit: ' s' }] };
  }
  try {
    const survivors = [await ctx.cluster.addSocketNode(), await ctx.cluster.addSocketNode()];
    await ctx.cluster.waitSocketServers(3);
    const offersNote = await waitForFallbackOffers(ctx, p4.node.info.metrics, n);
    ctx.log.info(`P7: ${offersNote}`);
    ctx.log.info(`P7: killing ${p4.node.name} (pid ${p4.node.pid}) with ${n} clients; survivors ${survivors.map((s) => s.name).join(', ')}`);
    // Each survivor's metrics address; undefined when one has none (its stalls are then not measured).
    const addresses = survivors.flatMap((s) => s.info.metrics ?? []);
    const survivorMetrics = addresses.length === survivors.length ? addresses : undefined;
    await Promise.all((survivorMetrics ?? []).map((u) => resetEventLoopLag(u)));
    const overflowsBefore = await listenOverflows();
    const cpu = await cpuMeter({
      'load processes': ctx.fleet.processes.map((p) => p.pid),
      survivors: survivors.map((s) => s.pid),
      'storage and gateway': ctx.cluster.nodes.map((x) => x.pid),
      'nats-server': [ctx.cluster.nats.pid],
    });
    const killAt = Date.now();
    const watching = ctx.fleet.watchLive(killAt, p4.node.info.node, WATCH_TIMEOUT_MS);
    const progress = setInterval(() => ctx.log.info(`P7: ${((Date.now() - killAt) / 1000).toFixed(1)} s since the kill`), 2_000);
    await p4.node.kill9();
    let w;
    try {
      w = await watching;
    } finally {
      clearInterval(progress);
    }
    const cpuNote = cpuPerReconnect(await cpu.stop(), w.wentDown);
    const stormNote = await stormStalls(survivorMetrics, overflowsBefore);
    ctx.log.info(`P7: ${stormNote}`);
    ctx.log.info(`P7: ${cpuNote}`);
    const allBack = w.live === w.clients && w.wentDown === n;
    const seconds = allBack ? (w.lastLiveWallMs - killAt) / 1000 : undefined;
    ctx.log.info(`P7: ${w.live}/${w.clients} live, ${w.wentDown} went down; last back after ${((w.lastLiveWallMs - killAt) / 1000).toFixed(2)} s`);
    const top = Object.entries(w.reasons).sort((a, b) => b[1] - a[1]).slice(0, 4);
    ctx.log.info(`P7: ${w.failedAttempts} failed attempts; reasons: ${JSON.stringify(top)}`);
    // Where the returning clients' time went, per load process (ms, p50/p90/max of the last attempt).
    const stageNotes = w.stages.map((st, i) => `load process ${i + 1}, last attempt in ms (p50/p90/max): ${Object.entries(st).map(([stage, [p50, p90, max]]) => `${stage} ${p50}/${p90}/${max}`).join(', ')}`);
    for (const line of stageNotes) ctx.log.info(`P7: ${line}`);
    const fallbackNote = `${w.viaFallback} of ${w.live} came back with their welcome's fallback ticket (no POST /v1/connect); ${offersNote}`;
    ctx.log.info(`P7: ${fallbackNote}`);
    const stuck = allBack ? undefined : `${w.clients - w.live} of ${w.clients} still not live after ${WATCH_TIMEOUT_MS / 1000} s (${w.wentDown} dropped)`;
    const note = [stuck, `${w.failedAttempts} failed attempts after the drop`].filter(Boolean).join('; ');
    const closeNote = await massClose(ctx, survivorMetrics);
    ctx.log.info(`P7: ${closeNote}`);
    return {
      ...base,
      rows: [
        {
          name: 'ours: clients live again',
          values: { ...(seconds !== undefined && { s: seconds, rate: n / seconds }), n: w.live },
          note,
        },
        ...uwsRow,
      ],
      checks: [{ what: 'time until all live again', value: seconds, op: '<=', bound: 10, unit: ' s' }],
      series: { liveEvery100ms: w.liveCurve },
      notes: [
        ...top.map(([reason, count]) => `${count}x status reason after the kill: ${reason}`),
        ...stageNotes,
        fallbackNote,
        stormNote,
        cpuNote,
        closeNote,
        ...(n < 15_000 ? [`measured with ${n} clients; TARGETS.md sets 15,000`] : []),
      ],
    };
  } catch (err) {
    if (err instanceof BenchAbortedError) throw err;
    ctx.log.error({ err }, 'P7 failed');
    return { ...base, rows: [{ name: 'ours: clients live again', values: {}, error: err instanceof Error ? err.message : String(err) }, ...uwsRow], checks: [{ what: 'time until all live again', value: undefined, op: '<=', bound: 10, unit: ' s' }] };
  } finally {
    await ctx.fleet.close().catch((err: unknown) => ctx.log.warn({ err }, 'P7: closing the clients failed'));
  }
}

/** How long the killed node may take to send its clients their new fallback offers (it spreads them over 2 ms each, up to 60 s). */
const OFFERS_TIMEOUT_MS = 90_000;

/**
 * Waits until the node about to be killed has sent its `n` clients their fallback offers for the new
 * nodes (its metrics: `syncmesh_socket_fallback_frames_total`, nothing pending), as it does whenever the
 * socket servers change. Returns a note of what it saw; never throws (a storm without offers is still a
 * storm: its clients ask the distributor).
 */
async function waitForFallbackOffers(ctx: LoadContext, metricsUrl: string | undefined, n: number): Promise<string> {
  if (metricsUrl === undefined) return 'the killed node has no metrics address: its fallback offers were not waited for';
  const started = Date.now();
  let frames = 0;
  let pending = 0;
  let spreadMs = 0;
  while (Date.now() - started < OFFERS_TIMEOUT_MS) {
    try {
      const samples = await scrape(metricsUrl);
      frames = samples.get('syncmesh_socket_fallback_frames_total') ?? 0;
      pending = samples.get('syncmesh_socket_fallback_pending') ?? 0;
      spreadMs = samples.get('syncmesh_socket_storm_spread_ms') ?? 0;
    } catch (err) {
      return `could not read the killed node's fallback offers (${err instanceof Error ? err.message : String(err)})`;
    }
    if (frames >= n && pending === 0) {
      const spread = spreadMs > 0 ? `, their reconnect spread ${spreadMs} ms (--storm-rate)` : ', without a reconnect spread';
      return `the killed node sent ${frames} fallback offers in ${((Date.now() - started) / 1000).toFixed(1)} s before the kill${spread}`;
    }
    ctx.log.info(`P7: waiting for the killed node's fallback offers: ${frames}/${n} sent`);
    await new Promise((r) => setTimeout(r, 2_000));
  }
  return `only ${frames} of ${n} fallback offers sent (${pending} pending) after ${OFFERS_TIMEOUT_MS / 1000} s`;
}

/**
 * What held the storm up on the servers' side: each survivor's longest event-loop stall during it, and
 * the handshakes the kernel dropped because a listening socket's accept queue was full (machine-wide;
 * uWebSockets.js listens with a backlog of 512, and each dropped handshake costs its client a SYN
 * retransmission of a second or more).
 */
async function stormStalls(metricsUrls: readonly string[] | undefined, overflowsBefore: number | undefined): Promise<string> {
  const parts: string[] = [];
  try {
    if (metricsUrls !== undefined) parts.push(`longest event-loop stall per survivor ${(await eventLoopLagMax(metricsUrls)).map((ms) => `${Math.round(ms)} ms`).join(', ')}`);
  } catch (err) {
    parts.push(`survivors' stalls not measured (${err instanceof Error ? err.message : String(err)})`);
  }
  const after = await listenOverflows();
  if (overflowsBefore !== undefined && after !== undefined) parts.push(`${after - overflowsBefore} handshakes dropped on full accept queues (kernel ListenOverflows)`);
  if (metricsUrls !== undefined) {
    try {
      const deferred = await Promise.all(metricsUrls.map(async (u) => (await scrape(u)).get('syncmesh_socket_fallback_deferred_total') ?? 0));
      parts.push(`welcomes sent without their fallback offer (it follows after the burst) per survivor ${deferred.join(', ')}`);
    } catch (err) {
      parts.push(`survivors' deferred offers not read (${err instanceof Error ? err.message : String(err)})`);
    }
  }
  return `during the storm: ${parts.length > 0 ? parts.join('; ') : 'not measured'}`;
}

/**
 * The CPU every process used from the kill to the last client back, per reconnect. On one machine the
 * clients share the cores with the servers, so this sum, not any one process, bounds the storm: n
 * reconnects at c ms each take at least n x c / cores.
 */
function cpuPerReconnect(cpuMs: Record<string, number>, reconnects: number): string {
  if (reconnects === 0) return 'CPU during the storm: no reconnects';
  const per = (ms: number): string => (ms / reconnects).toFixed(2);
  const total = Object.values(cpuMs).reduce((a, b) => a + b, 0);
  const cores = availableParallelism();
  const parts = Object.entries(cpuMs).map(([group, ms]) => `${group} ${per(ms)}`);
  return `CPU during the storm: ${per(total)} ms per reconnect (${parts.join(', ')}); at that cost ${cores} cores bring ${reconnects} clients back in ${((total / cores) / 1000).toFixed(1)} s at best`;
}

/**
 * After the storm, every client closes at once: a mass disconnect on the survivors. The longest
 * event-loop stall each had meanwhile (a stall past the runtime's downAfterMs, 3 s, self-fences a node).
 */
async function massClose(ctx: LoadContext, urls: readonly string[] | undefined): Promise<string> {
  try {
    if (urls === undefined) return 'mass close afterwards: not measured (a survivor has no metrics address)';
    const { doneMs, lagMaxMs } = await massCloseStalls(urls, () => ctx.fleet.close());
    return `mass close afterwards: every client closed at once, sessions gone after ${doneMs} ms; longest event-loop stall per survivor ${lagMaxMs.map((ms) => `${Math.round(ms)} ms`).join(', ')}`;
  } catch (err) {
    return `mass close afterwards: not measured (${err instanceof Error ? err.message : String(err)})`;
  }
}
