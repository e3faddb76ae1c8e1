/**
 * P5: push latency. N clients, two devices per user, on two socket nodes (the distributor decides);
 * users whose devices landed on different nodes form pairs. At a fixed rate a device commits one key
 * (`put`, the durable write to JetStream included) and the time until its user's other device, on
 * the other node, receives `sync` is recorded (both devices live in one load process: one clock),
 * with the commit's own answer beside it. The receiving device then pulls, as a real device does.
 *
 * Peer, same run, same load processes: Socket.IO 4 on two nodes with @socket.io/redis-adapter over
 * redis-server; device A (node 1) emits, the server emits to the rest of the user's room, device B
 * (node 2) receives. It stores nothing.
 */
import { BenchAbortedError } from '../errors.js';
import { fileURLToPath } from 'node:url';
import { LoadProcess } from '../load/load-process.js';
import { startRedisServer, type RedisServer } from '../load/redis-server.js';
import type { LoadSummary } from '../load/fleet.js';
import { SLOW_PUSH_MS } from '../load/push-load.js';
import { bucketsSince, histogramBuckets, quantileBound, shareAbove, type Buckets } from '../load/node-histograms.js';
import { LAG_MAX, LAG_P99, parseSamples, scrapeText } from '../load/node-metrics.js';
import { ratio, type ScaleResult, type ScaleRow } from '../scale-report.js';
import { OPEN_CONCURRENCY, OPEN_TIMEOUT_MS, syncmeshUsers, type LoadContext } from './load-context.js';

const PEER_SCRIPT = fileURLToPath(new URL('../load/peer-server.js', import.meta.url));

function row(name: string, s: LoadSummary, which: 'push' | 'answer'): ScaleRow {
  const l = which === 'push' ? s.push : s.answer!;
  // An empty histogram has no percentiles: print none rather than zeros.
  if (l.count === 0) return { name, values: { rate: s.ratePerSec, n: 0 }, note: which === 'push' ? `none of ${s.sent} received` : 'no answer within the run' };
  const lost = s.sent - s.received;
  const notes = [
    which === 'push' && lost > 0 ? `${lost} of ${s.sent} not received` : '',
    which === 'push' && s.skipped > 0 ? `${s.skipped} skipped (pair busy)` : '',
    which === 'push' && s.errors > 0 ? `${s.errors} errors (${s.firstError ?? ''})` : '',
  ].filter(Boolean);
  return {
    name,
    values: { p50: l.p50Ms, p99: l.p99Ms, p999: l.p999Ms, max: l.maxMs, rate: s.ratePerSec, n: l.count },
    ...(notes.length > 0 && { note: notes.join('; ') }),
  };
}

const COMMIT_HISTOGRAM = 'syncmesh_store_commit_seconds';

/** The nodes' own view of a load: read before it (which also resets their event-loop delay record) and after. */
interface NodeView {
  readonly all: readonly { readonly name: string; readonly url: string }[];
  /** The storage node's commit histogram before the load, and its place in `all`. */
  readonly storage: { readonly at: number; readonly commits: Buckets } | undefined;
}

async function viewBefore(ctx: LoadContext): Promise<NodeView> {
  const all = [...ctx.cluster.nodes, ...ctx.cluster.sockets.filter((s) => s.alive)].flatMap((n) => (n.info.metrics === undefined ? [] : [{ name: n.name, url: n.info.metrics }]));
  const texts = await Promise.all(all.map((n) => scrapeText(n.url)));
  const at = all.findIndex((n) => n.name.startsWith('storage'));
  return { all, storage: at < 0 ? undefined : { at, commits: histogramBuckets(texts[at]!, COMMIT_HISTOGRAM) } };
}

/**
 * Where the time went: the share of commits the store actor took over SLOW_PUSH_MS to answer (the
 * rest of a slow push's time is in the socket nodes, NATS and the load processes), and each node's
 * event-loop delay over the load (a busy or paused process delays everything it holds).
 */
async function viewAfter(before: NodeView, o: LoadSummary): Promise<string> {
  const texts = await Promise.all(before.all.map((n) => scrapeText(n.url)));
  const parts: string[] = [];
  const slow = o.slowBySecond.reduce((a, b) => a + b, 0);
  if (o.received > 0) parts.push(`${((slow * 100) / o.received).toFixed(1)}% of pushes over ${SLOW_PUSH_MS} ms end to end`);
  if (before.storage !== undefined) {
    const commits = bucketsSince(before.storage.commits, histogramBuckets(texts[before.storage.at]!, COMMIT_HISTOGRAM));
    const { count, above } = shareAbove(commits, SLOW_PUSH_MS);
    const bound = (q: number): string => {
      const b = quantileBound(commits, q);
      return b === undefined ? '?' : Number.isFinite(b) ? `<= ${b} ms` : 'over the largest bucket';
    };
    parts.push(`store actor: ${(above * 100).toFixed(1)}% of ${count} commits (warm-up included) answered in over ${SLOW_PUSH_MS} ms, p50 ${bound(0.5)}, p99 ${bound(0.99)}`);
  }
  const lags = before.all.map((n, i) => {
    const samples = parseSamples(texts[i]!);
    return `${n.name} ${Math.round((samples.get(LAG_P99) ?? 0) * 1000)}/${Math.round((samples.get(LAG_MAX) ?? 0) * 1000)}`;
  });
  parts.push(`event-loop delay p99/max ms: ${lags.join(', ')}`);
  return `where ours spent it: ${parts.join('; ')}`;
}

async function ours(ctx: LoadContext): Promise<{ summary: LoadSummary; where: string | undefined }> {
  // P7 leaves two live socket nodes; without it, start what is missing.
  const live = ctx.cluster.sockets.filter((s) => s.alive).length;
  for (let i = live; i < 2; i++) await ctx.cluster.addSocketNode();
  await ctx.cluster.waitSocketServers(Math.max(2, live));
  const n = ctx.options.clients;
  const spec = await syncmeshUsers(ctx, 'p5', n);
  const opened = await ctx.fleet.open('P5 syncmesh', spec, { concurrency: OPEN_CONCURRENCY, timeoutMs: OPEN_TIMEOUT_MS, total: n });
  try {
    if (opened.crossPairs === 0) throw new Error(`no user has devices on two nodes (${opened.opened} open, ${opened.failed} failed: ${opened.firstError ?? ''})`);
    ctx.log.info(`P5 syncmesh: ${JSON.stringify(opened.byNode)} devices per node, ${opened.crossPairs} cross-node pairs`);
    // The nodes' view is a note: a node that cannot be read does not fail the measure.
    const before = await viewBefore(ctx).catch((err: unknown) => ctx.log.warn({ err }, 'P5: the nodes\' metrics could not be read'));
    const summary = await ctx.fleet.load('P5 syncmesh', ctx.options.ratePerSec, ctx.options.loadWarmupMs, ctx.options.loadMs, opened.pairsPerProcess);
    const where = before === undefined ? undefined : await viewAfter(before, summary).catch((err: unknown) => void ctx.log.warn({ err }, 'P5: the nodes\' metrics could not be read'));
    return { summary, where: where ?? undefined };
  } finally {
    await ctx.fleet.close();
  }
}

async function socketIo(ctx: LoadContext): Promise<LoadSummary> {
  let redis: RedisServer | undefined;
  const servers: LoadProcess[] = [];
  try {
    redis = await startRedisServer();
    for (let i = 0; i < 2; i++) servers.push(await LoadProcess.start({ name: `peer-sio-${i + 1}`, script: PEER_SCRIPT, args: ['sio-redis', redis.url] }));
    const urls = servers.map((s) => s.ready!.url!);
    const users = Math.ceil(ctx.options.clients / 2);
    const opened = await ctx.fleet.open(
      'P5 Socket.IO',
      (i, of) => ({ kind: 'sio', urls, users: Array.from({ length: users }, (_, u) => `p5-u${u}`).filter((_, u) => u % of === i), devicesPerUser: 2 }),
      { concurrency: OPEN_CONCURRENCY, timeoutMs: OPEN_TIMEOUT_MS, total: users * 2 },
    );
    try {
      if (opened.crossPairs === 0) throw new Error(`no Socket.IO pair could be opened (${opened.failed} failed: ${opened.firstError ?? ''})`);
      return await ctx.fleet.load('P5 Socket.IO', ctx.options.ratePerSec, ctx.options.loadWarmupMs, ctx.options.loadMs, opened.pairsPerProcess);
    } finally {
      await ctx.fleet.close();
    }
  } finally {
    for (const s of servers) await s.stop();
    await redis?.stop();
  }
}

/**
 * Where the slow pushes fall in time: a few seconds holding most of them is a stall (a pause of one
 * process, a burst of other work); slow pushes in every second is queueing on a busy machine.
 */
export function slowSeconds(name: string, s: LoadSummary): string {
  const by = s.slowBySecond;
  const total = by.reduce((a, b) => a + b, 0);
  if (total === 0) return `${name}: no push slower than ${SLOW_PUSH_MS} ms`;
  const seconds = by.filter((n) => n > 0).length;
  const worst = by
    .map((n, second) => ({ n, second }))
    .sort((a, b) => b.n - a.n)
    .slice(0, 5);
  const inWorst = worst.reduce((a, w) => a + w.n, 0);
  return (
    `${name}: ${total} pushes slower than ${SLOW_PUSH_MS} ms, in ${seconds} of ${by.length} seconds; ` +
    `the 5 worst seconds hold ${Math.round((inWorst * 100) / total)}% of them (${worst.map((w) => `${w.second} s: ${w.n}`).join(', ')})`
  );
}

export async function runPushLatency(ctx: LoadContext): Promise<ScaleResult> {
  const rows: ScaleRow[] = [];
  let o: LoadSummary | undefined;
  let where: string | undefined;
  let p: LoadSummary | undefined;
  try {
    ({ summary: o, where } = await ours(ctx));
    rows.push(row('ours: commit -> sync at B', o, 'push'));
    if (o.answer) rows.push({ ...row('ours: commit -> committed at A', o, 'answer'), note: 'the commit answer alone' });
  } catch (err) {
    if (err instanceof BenchAbortedError) throw err;
    ctx.log.error({ err }, 'P5: Syncmesh failed');
    rows.push({ name: 'ours: commit -> sync at B', values: {}, error: err instanceof Error ? err.message : String(err) });
  }
  try {
    p = await socketIo(ctx);
    const r = ratio(o?.push.p99Ms, p.push.p99Ms);
    const base = row('Socket.IO 4 + Redis adapter', p, 'push');
    rows.push({ ...base, note: [r !== undefined ? `p99 ours/peer ${r.toFixed(2)}x` : '', base.note ?? ''].filter(Boolean).join('; ') });
  } catch (err) {
    if (err instanceof BenchAbortedError) throw err;
    ctx.log.error({ err }, 'P5: Socket.IO failed');
    rows.push({ name: 'Socket.IO 4 + Redis adapter', values: {}, error: err instanceof Error ? err.message : String(err) });
  }
  const n = ctx.options.clients;
  // A push that never arrived has no latency: counting the run's losses keeps a lossy run from looking fast.
  const lossFree = o !== undefined && o.sent > 0 && o.received === o.sent;
  return {
    id: 'P5',
    title: 'push latency: commit at device A to sync at device B on the other socket node',
    setting: `${n.toLocaleString('en-US')} connected clients (2 devices per user) on 2 socket nodes, ${ctx.options.ratePerSec}/s for ${ctx.options.loadMs / 1000} s after ${ctx.options.loadWarmupMs / 1000} s of warm-up, open loop; HDR histograms`,
    target: "p50 <= 2 ms; p99 <= 10 ms and <= Socket.IO's p99 (same targeted emit, two nodes, Redis adapter) in the same run",
    columns: [
      { key: 'p50', label: 'p50 ms', digits: 2 },
      { key: 'p99', label: 'p99 ms', digits: 2 },
      { key: 'p999', label: 'p99.9 ms', digits: 2 },
      { key: 'max', label: 'max ms', digits: 1 },
      { key: 'rate', label: 'sent/s', digits: 0 },
      { key: 'n', label: 'received', digits: 0 },
    ],
    rows,
    checks: [
      { what: 'p50', value: o?.push.p50Ms, op: '<=', bound: 2, unit: ' ms' },
      { what: 'p99', value: o?.push.p99Ms, op: '<=', bound: 10, unit: ' ms' },
      { what: "p99 / Socket.IO's p99", value: ratio(o?.push.p99Ms, p?.push.p99Ms), op: '<=', bound: 1, unit: 'x' },
      { what: 'pushes lost', value: o === undefined ? undefined : o.sent - o.received, op: '<=', bound: 0, unit: '' },
    ],
    notes: [
      ...(o !== undefined ? [slowSeconds('ours', o)] : []),
      ...(where !== undefined ? [where] : []),
      ...(p !== undefined ? [slowSeconds('Socket.IO', p)] : []),
      ...(lossFree ? [] : ['pushes lost: a push not received within 10 s (or by the end of the run) is not in the histogram']),
      ...(n < 10_000 ? [`measured with ${n} clients; TARGETS.md sets 10,000`] : []),
    ],
  };
}
