/**
 * Test kit: the R4 frame fuzz. Sends `frames` hostile frames (hostile-frames.ts fuzzFrame: random
 * bytes, truncated, lying and deeply nested MessagePack, wrong field types, unknown `t`, huge arrays,
 * text frames, ...) over `connections` WebSockets to one real socket node in its own process, and
 * checks that every frame got exactly its documented `error` frame (code, and the id when it had a
 * usable one), that no connection was closed, that the process never died, and that it still serves
 * a normal commit and pull afterwards.
 *
 * The node runs with the per-connection frame rate limit raised (limits.ratePerSec), so the run
 * measures the handling of hostile frames, not the limiter (the limiter has its own test).
 */
import { readFileSync } from 'node:fs';
import WebSocket from 'ws';
import { decode } from '@msgpack/msgpack';
import { natsServer } from './nats.js';
import { fuzzFrame, seededRng } from './hostile-frames.js';
import { childSocketNode } from '../socket/child.js';
import { closeAll } from '../socket/kit.js';

export interface FuzzOptions {
  readonly frames: number;
  readonly connections: number;
  readonly seed: number;
  /** Frames in flight per connection (sent, not yet answered). */
  readonly window?: number;
  /** Give up waiting for answers after this long. */
  readonly timeoutMs?: number;
}

export interface FuzzSummary {
  readonly frames: number;
  readonly bytes: number;
  readonly answered: number;
  /** Answers that were not the documented one (code|id), or were missing, with the frame's kind. */
  readonly wrong: readonly string[];
  readonly closedConnections: number;
  /** The socket node process exited during the run. */
  readonly crashed: boolean;
  /** After the run: a fresh connection committed and pulled a record. */
  readonly stillServes: boolean;
  readonly ms: number;
  readonly framesPerSec: number;
  /** CPU seconds the socket node process spent during the run, and frames per such second. */
  readonly nodeCpuSec: number;
  readonly framesPerCpuSec: number;
  readonly kinds: Readonly<Record<string, number>>;
}

/** CPU seconds (user + system) used so far by process `pid` (Linux /proc). */
function cpuSeconds(pid: number | undefined): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (100/s)
  } catch {
    return Number.NaN;
  }
}

const answerKey = (code: unknown, id: unknown): string => `${String(code)}|${id === undefined || id === null ? '-' : String(id)}`;

interface Conn {
  ws: WebSocket;
  answered: number;
  /** Expected answers not yet seen: key -> kinds. */
  expected: Map<string, string[]>;
  unexpected: string[];
  closed: boolean;
  wake: (() => void) | undefined;
}

function open(url: string): Promise<Conn> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    ws.binaryType = 'nodebuffer';
    const conn: Conn = { ws, answered: -1, expected: new Map(), unexpected: [], closed: false, wake: undefined };
    ws.on('message', (data: Buffer) => {
      const f = decode(data, { useBigInt64: true }) as Record<string, unknown>;
      conn.answered++;
      if (f['t'] === 'welcome') {
        resolve(conn);
        return;
      }
      const key = answerKey(f['t'] === 'error' ? f['code'] : `answer:${String(f['t'])}`, f['id']);
      const kinds = conn.expected.get(key);
      if (kinds === undefined || kinds.length === 0) conn.unexpected.push(key);
      else if (kinds.length === 1) conn.expected.delete(key);
      else kinds.pop();
      const message = f['message'];
      if (f['t'] === 'error' && (typeof message !== 'string' || message.length === 0 || /\n\s+at |node_modules/.test(message))) conn.unexpected.push(`${key} unclear message`);
      conn.wake?.();
    });
    ws.on('close', () => {
      conn.closed = true;
      conn.wake?.();
    });
    ws.once('error', reject);
  });
}

async function waitFor(conn: Conn, cond: () => boolean, deadline: number): Promise<boolean> {
  while (!cond()) {
    if (conn.closed || Date.now() > deadline) return cond();
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, 200);
      conn.wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }
  return true;
}

/** Runs the fuzz against a fresh nats-server and socket node process; never throws for a finding, reports it. */
export async function runFuzz(options: FuzzOptions): Promise<FuzzSummary> {
  const window = options.window ?? 128;
  const timeoutMs = options.timeoutMs ?? 600_000;
  await using ns = await natsServer();
  await using node = await childSocketNode(ns.url, { limits: { ratePerSec: 1_000_000, burst: 2_000_000, maxRejectedFrames: 1_000_000 } });
  let crashed = false;
  node.process.once('exit', () => (crashed = true));
  const conns = await Promise.all(Array.from({ length: options.connections }, (_, i) => open(`${node.url}?ticket=${encodeURIComponent(node.ticket(`fuzz-${i}`, 'desk'))}`)));
  for (const c of conns) c.answered = 0;
  const kinds: Record<string, number> = {};
  let bytes = 0;
  const perConn = Math.ceil(options.frames / options.connections);
  const t0 = Date.now();
  const cpu0 = cpuSeconds(node.process.pid);
  const deadline = t0 + timeoutMs;
  let sent = 0;
  await Promise.all(
    conns.map(async (c, i) => {
      const rng = seededRng(options.seed + i);
      for (let k = 0; k < perConn && sent < options.frames; k++) {
        if (!(await waitFor(c, () => k - c.answered < window, deadline))) return;
        const f = fuzzFrame(rng, (i + 1) * 10_000_000 + k);
        sent++;
        kinds[f.kind] = (kinds[f.kind] ?? 0) + 1;
        bytes += typeof f.data === 'string' ? Buffer.byteLength(f.data) : f.data.byteLength;
        const key = answerKey(f.code, f.id);
        const list = c.expected.get(key);
        if (list === undefined) c.expected.set(key, [f.kind]);
        else list.push(f.kind);
        c.ws.send(f.data, { binary: typeof f.data !== 'string' });
      }
      await waitFor(c, () => c.expected.size === 0, deadline);
    }),
  );
  const ms = Date.now() - t0;
  const nodeCpuSec = cpuSeconds(node.process.pid) - cpu0;
  const wrong: string[] = [];
  for (const [i, c] of conns.entries()) {
    for (const u of c.unexpected) wrong.push(`connection ${i}: unexpected ${u}`);
    for (const [key, ks] of c.expected) for (const k of ks) wrong.push(`connection ${i}: no answer ${key} to ${k}`);
  }
  const closedConnections = conns.filter((c) => c.closed).length;
  for (const c of conns) c.ws.terminate();

  // Still serving: a fresh device commits and pulls.
  let stillServes = false;
  if (!crashed) {
    const probe = await node.client('fuzz-probe', 'laptop').catch(() => undefined);
    if (probe !== undefined) {
      probe.send({ t: 'commit', id: 1, collection: 'after-fuzz', changes: [{ key: 'k', value: 'v' }] });
      const committed = await probe.take((f) => f['id'] === 1, 15_000).catch(() => undefined);
      probe.send({ t: 'pull', id: 2, collection: 'after-fuzz', since: 0 });
      const pulled = await probe.take((f) => f['id'] === 2, 15_000).catch(() => undefined);
      stillServes = committed?.['t'] === 'committed' && (pulled?.['changes'] as { value: unknown }[] | undefined)?.[0]?.value === 'v';
      await closeAll([probe]);
    }
  }
  const answered = conns.reduce((n, c) => n + c.answered, 0);
  return { frames: sent, bytes, answered, wrong, closedConnections, crashed, stillServes, ms, framesPerSec: Math.round((sent / ms) * 1000), nodeCpuSec, framesPerCpuSec: Math.round(sent / nodeCpuSec), kinds };
}

/** One line for logs and the fuzz script. */
export function describeFuzz(s: FuzzSummary): string {
  const verdict = s.wrong.length === 0 && s.closedConnections === 0 && !s.crashed && s.stillServes && s.answered === s.frames ? 'PASS' : 'FAIL';
  return (
    `${verdict}: ${s.frames} hostile frames (${(s.bytes / 1024 / 1024).toFixed(1)} MiB, ${Object.keys(s.kinds).length} kinds) in ${(s.ms / 1000).toFixed(1)} s ` +
    `= ${s.framesPerSec} frames/s (node CPU ${s.nodeCpuSec.toFixed(1)} s: ${s.framesPerCpuSec} frames per CPU-second); ${s.answered} answered, ${s.wrong.length} wrong or missing answers, ${s.closedConnections} connections closed, ` +
    `node ${s.crashed ? 'CRASHED' : 'alive'}, ${s.stillServes ? 'still serves commits and pulls' : 'NO LONGER SERVES'}`
  );
}
