/**
 * P6: the distributor. Allocations per second through its HTTP API on the shipping path (the
 * distributor actor on a runtime node, 4 socket nodes in membership over a real nats-server), from one
 * server process (bench/ours/distributor-load.ts) whose HTTP API runs on 1 thread (context), then 2
 * (checked: DistributorOptions.threads). Then the allocation function itself (the
 * SocketTable the distributor actor keeps): load skew max/mean of 200k connection ids over 4 socket
 * nodes, and the share of ids that move when a 5th joins.
 */
import { SocketTable } from '../../actors/distributor/mod.js';
import type { MemberInfo } from '../../runtime/mod.js';
import { connectionId } from '../../protocol/cluster/mod.js';
import { measureAllocations, type AllocationFigure } from '../ours/distributor-load.js';
import type { ScaleResult, ScaleRow } from '../scale-report.js';
import type { Logger } from 'pino';

const IDS = 200_000;
const NODES = 4;

function member(i: number): MemberInfo {
  return {
    nodeId: `socket-${i + 1}`,
    roles: ['socket'],
    kinds: [],
    meta: { socketHost: '127.0.0.1', socketPort: 9200 + i, socketUrl: `ws://127.0.0.1:${9200 + i}/ws` },
    draining: false,
    startedAt: 0,
    lastSeen: 0,
  };
}

/** Skew and movement of the real allocation over `IDS` connection ids. */
export function allocationSpread(): { skew: number; moved: number; perNode: number[] } {
  const four = SocketTable.fromMembers(Array.from({ length: NODES }, (_, i) => member(i)));
  const five = SocketTable.fromMembers(Array.from({ length: NODES + 1 }, (_, i) => member(i)));
  const counts = new Map<string, number>();
  let moved = 0;
  for (let u = 0; u < IDS; u++) {
    const id = connectionId(`spread-user-${u}`, 'd0');
    const a = four.pick(id)!.id;
    counts.set(a, (counts.get(a) ?? 0) + 1);
    if (five.pick(id)!.id !== a) moved++;
  }
  const perNode = [...counts.values()];
  return { skew: Math.max(...perNode) / (IDS / NODES), moved: moved / IDS, perNode };
}

/** HTTP threads of the measured distributor process: the checked row (a gateway of 2 cores or more). */
const THREADS = 2;

async function allocationRow(log: Logger, allocationMs: number, threads: number): Promise<{ row: ScaleRow; figure: AllocationFigure | undefined }> {
  const name = `ours: allocations/s, one process, ${threads} HTTP thread${threads === 1 ? '' : 's'}`;
  try {
    log.info(`P6: allocations through the distributor's HTTP API on ${threads} thread(s) for ${allocationMs} ms`);
    const f = await measureAllocations({ mode: 'actor', connections: 64, seconds: allocationMs / 1000, users: 2_000, threads });
    const non200 = Object.entries(f.statuses).filter(([s]) => s !== '200');
    return {
      figure: f,
      row: {
        name,
        values: { v: f.allocationsPerSec },
        note: `POST /v1/connect, 64 keep-alive connections; server CPU ${f.serverCpuPct.toFixed(0)}%, ${Math.round(f.allocationsPerServerCpuSecond)}/CPU-s; p50 ${f.p50Ms.toFixed(2)} ms, p99 ${f.p99Ms.toFixed(2)} ms${non200.length ? `; non-200: ${JSON.stringify(Object.fromEntries(non200))}` : ''}`,
      },
    };
  } catch (err) {
    log.error({ err }, 'P6: allocation load failed');
    return { figure: undefined, row: { name, values: {}, error: err instanceof Error ? err.message : String(err) } };
  }
}

export async function runDistributor(log: Logger, allocationMs: number): Promise<ScaleResult> {
  const one = await allocationRow(log, allocationMs, 1);
  const many = await allocationRow(log, allocationMs, THREADS);
  const rows: ScaleRow[] = [{ ...one.row, note: `context (the default, --http-threads 1); ${one.row.note ?? ''}` }, many.row];
  const alloc = many.figure;
  const spread = allocationSpread();
  rows.push({ name: 'ours: skew max/mean, 4 nodes', values: { v: spread.skew }, note: `${IDS.toLocaleString('en-US')} ids: ${spread.perNode.join(' / ')}` });
  rows.push({ name: 'ours: share moved, 5th node joins', values: { v: spread.moved }, note: `ideal 1/5 = 0.20` });
  const ok200 = alloc === undefined ? undefined : Object.entries(alloc.statuses).every(([s]) => s === '200') ? alloc.allocationsPerSec : 0;
  return {
    id: 'P6',
    title: 'distributor: allocation rate, load skew, movement on join',
    setting: `HTTP load from the bench process against one distributor process (actor path, 4 socket nodes in membership, real nats-server; its HTTP API on 1, then ${THREADS} threads: --http-threads) for ${allocationMs / 1000} s after 1.5 s of warm-up; allocation function over ${IDS.toLocaleString('en-US')} ids`,
    target: '>= 20,000 allocations/s from one process; skew max/mean <= 1.1 over 4 nodes; <= 1.2/(N+1) = 0.24 of ids move when a 5th node joins',
    columns: [{ key: 'v', label: 'value', digits: 2 }],
    rows,
    checks: [
      { what: `allocations/s, ${THREADS} HTTP threads (all answered 200)`, value: ok200, op: '>=', bound: 20_000, unit: '/s' },
      { what: 'skew max/mean', value: spread.skew, op: '<=', bound: 1.1, unit: '' },
      { what: 'share moved on join', value: spread.moved, op: '<=', bound: 1.2 / (NODES + 1), unit: '' },
    ],
  };
}
