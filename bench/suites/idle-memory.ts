/**
 * P4: idle connection memory. N idle connections on one server process, its resident memory before
 * and after (median of a few readings once the connections are open), per connection: Syncmesh's
 * socket node (the session actor and the push interest of each connection included) and nats-server
 * (the socket node's subscriptions), then the peers, each its own server process fed by the same
 * load processes: bare uWebSockets.js, ws, Socket.IO 4. The rate the connections were opened at is
 * kept too (the uWebSockets.js accept rate is P7's context).
 *
 * The Syncmesh connections stay open afterwards: P7 kills the node that holds them.
 */
import { BenchAbortedError } from '../errors.js';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { LoadProcess } from '../load/load-process.js';
import { settledRss } from '../load/proc.js';
import type { OpenSummary } from '../load/fleet.js';
import type { NodeProcess } from '../load/syncmesh-cluster.js';
import { fileURLToPath } from 'node:url';
import { ratio, type ScaleResult, type ScaleRow } from '../scale-report.js';
import { KB, OPEN_CONCURRENCY, OPEN_TIMEOUT_MS, settle, syncmeshUsers, type LoadContext } from './load-context.js';
import { SESSION_HIBERNATE_AFTER_MS } from '../../actors/session/mod.js';

const PEER_SCRIPT = fileURLToPath(new URL('../load/peer-server.js', import.meta.url));
const SETTLE_MS = 3_000;
/** The runtime's sweep runs at most every second: a session hibernates within this much after its idle time. */
const HIBERNATE_SWEEP_MS = 2_000;
/**
 * Every server is read twice: EARLY_READ_MS after its last connection opened (sessions hibernated) and
 * `--idle-read-s` (LoadOptions.idleReadMs, default 60 s) after it. The checks use the later reading:
 * an idle connection is held for minutes or hours, and whether V8 (or Go) has handed the burst's
 * memory back 18 s later varies from run to run (3-13 KB per connection on the socket node in session
 * 6's runs at 18 s).
 */
const EARLY_READ_MS = 2 * SETTLE_MS + SESSION_HIBERNATE_AFTER_MS + HIBERNATE_SWEEP_MS;

/** Connections each load process opens and closes before the baseline reading, on every server alike. */
const WARM_PER_PROCESS = 20;

export interface PeerMemory {
  readonly name: string;
  readonly kbPerConn?: number;
  /** Read 18 s after the last open (kbPerConn: LoadOptions.idleReadMs after). */
  readonly kbPerConnEarly?: number;
  readonly acceptPerSec?: number;
  readonly opened?: number;
  readonly error?: string;
}

export interface IdleMemoryOutcome {
  readonly result: ScaleResult;
  /** The node holding the Syncmesh connections (P7 kills it); undefined when they could not be opened. */
  readonly node: NodeProcess | undefined;
  readonly opened: OpenSummary | undefined;
  readonly uwsAcceptPerSec: number | undefined;
}

async function measurePeer(ctx: LoadContext, kind: 'uws' | 'ws' | 'sio', name: string): Promise<PeerMemory> {
  const n = ctx.options.connections;
  let server: LoadProcess | undefined;
  try {
    server = await LoadProcess.start({ name: `peer-${kind}`, script: PEER_SCRIPT, args: [kind] });
    const url = server.ready?.url;
    if (!url) throw new Error(`the ${name} server did not report its URL`);
    const per = Math.ceil(n / ctx.fleet.processes.length);
    // Warm the server as Syncmesh's is warmed (its first connections allocate once-only state), then the baseline.
    const warm = WARM_PER_PROCESS * ctx.fleet.processes.length;
    await ctx.fleet.open(
      `P4 ${name} warm-up`,
      (i) => (kind === 'sio' ? { kind: 'sio', urls: [url], users: Array.from({ length: WARM_PER_PROCESS }, (_, k) => `p4warm-${i}-${k}`), devicesPerUser: 1 } : { kind: 'ws', url, count: WARM_PER_PROCESS }),
      { concurrency: OPEN_CONCURRENCY, timeoutMs: OPEN_TIMEOUT_MS, total: warm },
    );
    await ctx.fleet.close();
    await settle(SETTLE_MS, ctx.signal);
    const before = await settledRss(server.pid);
    const opened = await ctx.fleet.open(
      `P4 ${name}`,
      (i) => {
        const count = Math.max(0, Math.min(per, n - i * per));
        if (kind === 'sio') return { kind: 'sio', urls: [url], users: Array.from({ length: count }, (_, k) => `p4-${i}-${k}`), devicesPerUser: 1 };
        return { kind: 'ws', url, count };
      },
      { concurrency: OPEN_CONCURRENCY, timeoutMs: OPEN_TIMEOUT_MS, total: n },
    );
    // Read after the same idle time as Syncmesh's socket node (whose sessions hibernate meanwhile).
    await settle(SETTLE_MS + SESSION_HIBERNATE_AFTER_MS + HIBERNATE_SWEEP_MS + SETTLE_MS, ctx.signal);
    const early = await settledRss(server.pid);
    await settle(Math.max(0, ctx.options.idleReadMs - EARLY_READ_MS), ctx.signal);
    const after = await settledRss(server.pid);
    await ctx.fleet.close();
    if (opened.opened === 0) throw new Error(`no connection could be opened: ${opened.firstError ?? 'unknown error'}`);
    return { name, kbPerConn: (after - before) / opened.opened / KB, kbPerConnEarly: (early - before) / opened.opened / KB, acceptPerSec: opened.perSec, opened: opened.opened };
  } catch (err) {
    if (err instanceof BenchAbortedError) throw err;
    ctx.log.error({ err }, `P4: ${name} failed`);
    await ctx.fleet.close().catch(() => undefined);
    return { name, error: err instanceof Error ? err.message : String(err) };
  } finally {
    await server?.stop();
  }
}

/** Waits for a heap snapshot file to appear in `dir` and stop growing. */
async function waitSnapshot(dir: string, timeoutMs: number): Promise<string | undefined> {
  const deadline = Date.now() + timeoutMs;
  let last = -1;
  while (Date.now() < deadline) {
    const files = (await readdir(dir).catch(() => [] as string[])).filter((f) => f.endsWith('.heapsnapshot'));
    const size = files[0] === undefined ? -1 : await stat(join(dir, files[0])).then((s) => s.size, () => -1);
    // V8 writes the snapshot in pieces: done when it has stopped growing for one poll (P7 kills the node next).
    if (size > 0 && size === last) return files[0];
    last = size;
    await settle(1_000);
  }
  return undefined;
}

export async function runIdleMemory(ctx: LoadContext): Promise<IdleMemoryOutcome> {
  const n = ctx.options.connections;
  const idleS = Math.round(ctx.options.idleReadMs / 1000);
  const peers: PeerMemory[] = [];
  for (const [kind, name] of [
    ['uws', 'bare uWebSockets.js'],
    ['ws', 'ws'],
    ['sio', 'Socket.IO 4'],
  ] as const) {
    if (ctx.signal.aborted) break;
    peers.push(await measurePeer(ctx, kind, name));
  }

  let node: NodeProcess | undefined;
  let opened: OpenSummary | undefined;
  const rows: ScaleRow[] = [];
  let oursKb: number | undefined;
  let natsKb: number | undefined;
  try {
    node = await ctx.cluster.addSocketNode();
    await ctx.cluster.waitSocketServers(1);
    // Warm the node (JIT, first session, the user-interest path) before the baseline.
    const warmSpec = await syncmeshUsers(ctx, 'p4warm', WARM_PER_PROCESS * ctx.fleet.processes.length);
    await ctx.fleet.open('P4 syncmesh warm-up', warmSpec, { concurrency: OPEN_CONCURRENCY, timeoutMs: OPEN_TIMEOUT_MS, total: WARM_PER_PROCESS * ctx.fleet.processes.length });
    await ctx.fleet.close();
    await settle(SETTLE_MS, ctx.signal);
    const [nodeBefore, natsBefore] = await Promise.all([settledRss(node.pid), settledRss(ctx.cluster.nats.pid)]);
    const natsStateBefore = await natsState(ctx.cluster.nats.monitorUrl);
    const spec = await syncmeshUsers(ctx, 'p4', n);
    opened = await ctx.fleet.open('P4 syncmesh', spec, { concurrency: OPEN_CONCURRENCY, timeoutMs: OPEN_TIMEOUT_MS, total: n });
    await settle(SETTLE_MS, ctx.signal);
    const [nodeAfter, natsAfter] = await Promise.all([settledRss(node.pid), settledRss(ctx.cluster.nats.pid)]);
    if (opened.opened === 0) throw new Error(`no connection could be opened: ${opened.firstError ?? 'unknown error'}`);
    oursKb = (nodeAfter - nodeBefore) / opened.opened / KB;
    natsKb = (natsAfter - natsBefore) / opened.opened / KB;
    const failed = opened.failed > 0 ? `; ${opened.failed} failed (${opened.firstError ?? ''})` : '';
    rows.push({ name: 'ours: socket node, just opened', values: { kb: oursKb, rate: opened.perSec, n: opened.opened }, note: `RSS ${(nodeBefore / 2 ** 20).toFixed(0)} -> ${(nodeAfter / 2 ** 20).toFixed(0)} MB${failed}` });
    rows.push({ name: 'ours: nats-server, just opened', values: { kb: natsKb }, note: `RSS ${(natsBefore / 2 ** 20).toFixed(0)} -> ${(natsAfter / 2 ** 20).toFixed(0)} MB` });
    // Idle sessions hibernate (actors/session/kind.ts): read again once they have. The checks use these
    // figures: they are what an idle connection costs; the ones above are a connection just opened
    // (nats-server then still holds the KV writes of the burst in its block caches).
    await settle(SESSION_HIBERNATE_AFTER_MS + HIBERNATE_SWEEP_MS + SETTLE_MS, ctx.signal);
    const [nodeEarly, natsEarly] = await Promise.all([settledRss(node.pid), settledRss(ctx.cluster.nats.pid)]);
    await settle(Math.max(0, ctx.options.idleReadMs - EARLY_READ_MS), ctx.signal);
    const [nodeIdle, natsIdle] = await Promise.all([settledRss(node.pid), settledRss(ctx.cluster.nats.pid)]);
    const perConn = (after: number, before: number): number => (after - before) / opened!.opened / KB;
    const natsStateAfter = await natsState(ctx.cluster.nats.monitorUrl);
    const per = (k: keyof NatsState): string => ((natsStateAfter[k] - natsStateBefore[k]) / opened!.opened).toFixed(2);
    oursKb = perConn(nodeIdle, nodeBefore);
    natsKb = perConn(natsIdle, natsBefore);
    rows.splice(
      rows.length - 1,
      0,
      { name: 'ours: socket node, idle 18 s', values: { kb: perConn(nodeEarly, nodeBefore) }, note: `sessions hibernated; RSS ${(nodeEarly / 2 ** 20).toFixed(0)} MB` },
      { name: `ours: socket node, idle ${idleS} s`, values: { kb: oursKb }, note: `RSS ${(nodeIdle / 2 ** 20).toFixed(0)} MB` },
    );
    rows.push(
      { name: 'ours: nats-server, idle 18 s', values: { kb: perConn(natsEarly, natsBefore) }, note: `RSS ${(natsEarly / 2 ** 20).toFixed(0)} MB` },
      {
        name: `ours: nats-server, idle ${idleS} s`,
        values: { kb: natsKb },
        note: `RSS ${(natsIdle / 2 ** 20).toFixed(0)} MB; per connection ${per('subscriptions')} subscriptions, ${per('subjects')} JetStream subjects`,
      },
    );
    if (ctx.options.profileDir) {
      ctx.log.info('P4: heap snapshot of the socket node (SIGUSR2)');
      process.kill(node.pid, 'SIGUSR2');
      const file = await waitSnapshot(ctx.options.profileDir, 120_000);
      ctx.log.info(`P4: heap snapshot ${file ?? 'not written in time'}`);
    }
  } catch (err) {
    if (err instanceof BenchAbortedError) throw err;
    ctx.log.error({ err }, 'P4: Syncmesh failed');
    rows.push({ name: 'ours: socket node, just opened', values: {}, error: err instanceof Error ? err.message : String(err) });
  }
  for (const p of peers) {
    if (p.error !== undefined) {
      rows.push({ name: p.name, values: {}, error: p.error });
      continue;
    }
    const r = ratio(oursKb, p.kbPerConn);
    const early = p.kbPerConnEarly === undefined ? '' : `idle ${idleS} s; at 18 s ${p.kbPerConnEarly.toFixed(2)} KB`;
    rows.push({ name: p.name, values: { kb: p.kbPerConn!, rate: p.acceptPerSec!, n: p.opened! }, note: [early, r === undefined ? '' : `ours/peer ${r.toFixed(2)}x`].filter((x) => x !== '').join('; ') });
  }
  const uws = peers.find((p) => p.name === 'bare uWebSockets.js');
  const result: ScaleResult = {
    id: 'P4',
    title: 'idle connection memory on one socket node, session state included',
    setting: `${n.toLocaleString('en-US')} idle connections per server process, opened from ${ctx.fleet.processes.length} load processes on as many 127.0.0.x addresses; RSS before and after (median of 5 readings), every server read ${Math.round(EARLY_READ_MS / 1000)} s and ${Math.round(ctx.options.idleReadMs / 1000)} s after its last connection opened (ours and nats-server also at 3 s); the checks use the ${Math.round(ctx.options.idleReadMs / 1000)}-s readings`,
    target: '<= 3 KB RSS per connection on the socket node and <= 1 KB per connection in nats-server',
    columns: [
      { key: 'kb', label: 'KB/conn', digits: 2 },
      { key: 'rate', label: 'opened/s', digits: 0 },
      { key: 'n', label: 'conns', digits: 0 },
    ],
    rows,
    checks: [
      { what: 'socket node RSS per idle connection', value: oursKb, op: '<=', bound: 3, unit: ' KB' },
      { what: 'nats-server RSS per connection', value: natsKb, op: '<=', bound: 1, unit: ' KB' },
    ],
    ...(n < 15_000 && { notes: [`measured at ${n} connections; TARGETS.md sets 15,000`] }),
  };
  return { result, node, opened, uwsAcceptPerSec: uws?.acceptPerSec };
}

interface NatsState {
  subscriptions: number;
  subjects: number;
}

/**
 * nats-server's subscriptions (/varz) and JetStream subjects (/jsz?streams=true: the streams' stored
 * subjects, i.e. KV keys and index entries), read from its monitoring endpoint; zeros when unreadable.
 */
async function natsState(monitorUrl: string): Promise<NatsState> {
  try {
    const varz = (await (await fetch(`${monitorUrl}/varz`)).json()) as { subscriptions?: number };
    const jsz = (await (await fetch(`${monitorUrl}/jsz?streams=true`)).json()) as {
      account_details?: { stream_detail?: { state?: { num_subjects?: number } }[] }[];
    };
    let subjects = 0;
    for (const a of jsz.account_details ?? []) for (const st of a.stream_detail ?? []) subjects += st.state?.num_subjects ?? 0;
    return { subscriptions: varz.subscriptions ?? 0, subjects };
  } catch {
    return { subscriptions: 0, subjects: 0 };
  }
}
