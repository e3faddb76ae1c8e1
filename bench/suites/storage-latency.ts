/**
 * S1 (informational, no target): latency of our storage, one request in flight. Each round runs every
 * operation once (prepare, warm-up, measure); throughput is the median round, p50 and p99 are pooled
 * over every round's latencies. An operation that fails once is not measured again.
 *
 * P8 (runStorageGrowth, below): the same kind of reads, before and after other users' data is stored.
 */
import { BenchAbortedError } from '../errors.js';
import { closedLoop, pool, type Sample } from '../measure.js';
import type { InfoResult, InfoRow } from '../report.js';
import type { InfoSpec } from '../targets.js';
import type { SuiteContext } from './context.js';

/** One storage operation to time. */
export interface StorageOp {
  readonly name: string;
  /** Printed beside the figures (what exactly is timed, when it is not the whole call). */
  readonly note?: string;
  /** Puts the data in the state the operation expects; runs before each round's warm-up, untimed. */
  prepare?(): Promise<void>;
  /** One operation. Resolves with its own latency in ms when only part of it is timed. */
  run(): Promise<void | number>;
}

/** Our storage, set up and filled, with the operations S1 times. */
export interface StorageSession {
  readonly ops: readonly StorageOp[];
  close(): Promise<void>;
}

export type StorageFactory = (ctx: SuiteContext) => Promise<StorageSession>;

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export async function runStorageLatency(ctx: SuiteContext, spec: InfoSpec, ours: StorageFactory): Promise<InfoResult> {
  const { options, log, signal } = ctx;
  let session: StorageSession;
  try {
    log.info(`${spec.id}: setting up the storage`);
    session = await ours(ctx);
  } catch (err) {
    if (err instanceof BenchAbortedError) throw err;
    log.error({ err }, `${spec.id}: the storage could not be set up`);
    return { spec, rows: [{ name: 'storage setup', outcome: { error: `could not start: ${message(err)}` } }] };
  }
  const samples = new Map<StorageOp, Sample[]>(session.ops.map((op) => [op, []]));
  const errors = new Map<StorageOp, string>();
  try {
    for (let round = 0; round < options.rounds; round++) {
      for (const op of session.ops) {
        if (errors.has(op)) continue;
        log.info(`${spec.id} round ${round + 1}/${options.rounds}: ${op.name}`);
        try {
          await op.prepare?.();
          const run = (): Promise<void | number> => op.run();
          if (options.warmupMs > 0) await closedLoop(run, { name: op.name, inFlight: 1, durationMs: options.warmupMs, signal });
          const sample = await closedLoop(run, { name: op.name, inFlight: 1, durationMs: options.durationMs, recordLatency: true, signal });
          samples.get(op)!.push(sample);
        } catch (err) {
          if (err instanceof BenchAbortedError) throw err;
          log.error({ err }, `${spec.id}: ${op.name} failed`);
          errors.set(op, message(err));
        }
      }
    }
  } finally {
    await session.close().catch((err: unknown) => log.warn({ err }, `${spec.id}: closing the storage failed`));
  }
  const rows: InfoRow[] = session.ops.map((op) => {
    const error = errors.get(op);
    const s = samples.get(op) ?? [];
    const outcome = error !== undefined ? { error } : s.length ? { figure: pool(s) } : { error: 'no figure was taken' };
    return op.note === undefined ? { name: op.name, outcome } : { name: op.name, outcome, note: op.note };
  });
  return { spec, rows };
}

/**
 * P8 (TARGETS.md): storage read cost as the service grows. The same reads are timed on a storage
 * holding nothing but the measured user, then again after `records` records of other users (500 per
 * user, each user with a known device holding 2 commands) were stored. Target: each p50 with them at most `maxRatio` times
 * the p50 without.
 */
export interface GrowthRead {
  readonly name: string;
  /** One read; throws when the answer is wrong. */
  run(): Promise<void>;
}

/** Our storage for P8: the reads to time, and a way to store other users' data. */
export interface GrowthSession {
  readonly reads: readonly GrowthRead[];
  /** Stores `records` records of other users (and commands of their devices), showing progress. */
  fill(records: number): Promise<void>;
  close(): Promise<void>;
}

export type GrowthFactory = (ctx: SuiteContext) => Promise<GrowthSession>;

export interface GrowthRow {
  readonly name: string;
  readonly before?: number;
  readonly after?: number;
  readonly error?: string;
}

export interface GrowthResult {
  readonly id: string;
  readonly title: string;
  readonly records: number;
  readonly maxRatio: number;
  readonly rows: readonly GrowthRow[];
  readonly fillMs?: number;
}

async function p50(ctx: SuiteContext, read: GrowthRead): Promise<number> {
  const { options, signal } = ctx;
  const samples: Sample[] = [];
  for (let round = 0; round < options.rounds; round++) {
    if (options.warmupMs > 0) await closedLoop(() => read.run(), { name: read.name, inFlight: 1, durationMs: options.warmupMs, signal });
    samples.push(await closedLoop(() => read.run(), { name: read.name, inFlight: 1, durationMs: options.durationMs, recordLatency: true, signal }));
  }
  return pool(samples).p50Ms ?? Number.NaN;
}

export async function runStorageGrowth(
  ctx: SuiteContext,
  spec: { id: string; title: string; maxRatio: number },
  records: number,
  ours: GrowthFactory,
): Promise<GrowthResult> {
  const { log } = ctx;
  const base = { id: spec.id, title: spec.title, records, maxRatio: spec.maxRatio };
  let session: GrowthSession;
  try {
    session = await ours(ctx);
  } catch (err) {
    if (err instanceof BenchAbortedError) throw err;
    return { ...base, rows: [{ name: 'storage setup', error: `could not start: ${message(err)}` }] };
  }
  const rows = new Map<GrowthRead, { before?: number; after?: number; error?: string }>(session.reads.map((r) => [r, {}]));
  let fillMs: number | undefined;
  try {
    const measure = async (phase: 'before' | 'after'): Promise<void> => {
      for (const read of session.reads) {
        const row = rows.get(read)!;
        if (row.error !== undefined) continue;
        log.info(`${spec.id}: ${read.name}, ${phase === 'before' ? 'no other users stored' : `${records} records of other users stored`}`);
        try {
          row[phase] = await p50(ctx, read);
        } catch (err) {
          if (err instanceof BenchAbortedError) throw err;
          row.error = message(err);
        }
      }
    };
    await measure('before');
    const t0 = Date.now();
    try {
      await session.fill(records);
      fillMs = Date.now() - t0;
      await measure('after');
    } catch (err) {
      if (err instanceof BenchAbortedError) throw err;
      log.error({ err }, `${spec.id}: storing other users' data failed`);
      for (const row of rows.values()) row.error ??= `storing other users' data failed: ${message(err)}`;
    }
  } finally {
    await session.close().catch((err: unknown) => log.warn({ err }, `${spec.id}: closing the storage failed`));
  }
  return { ...base, rows: session.reads.map((r) => ({ name: r.name, ...rows.get(r) })), ...(fillMs !== undefined && { fillMs }) };
}

function growthMet(row: GrowthRow, maxRatio: number): boolean {
  return row.error === undefined && row.before !== undefined && row.after !== undefined && row.after / row.before <= maxRatio;
}

/** True when every read met the ratio. */
export function storageGrowthMet(r: GrowthResult): boolean {
  return r.rows.length > 0 && r.rows.every((row) => growthMet(row, r.maxRatio));
}

/** The report block of P8: each read's p50 without and with other users' data, the ratio, MET or MISSED. */
export function formatStorageGrowth(r: GrowthResult): string {
  const ms = (v: number | undefined): string => (v === undefined ? '-' : v.toFixed(3));
  const lines = [
    `${r.id}  ${r.title}`,
    `    p50 with ${r.records.toLocaleString('en-US')} records of other users stored vs none; target: at most ${r.maxRatio}x` +
      (r.fillMs !== undefined ? `; storing them took ${(r.fillMs / 1000).toFixed(1)} s` : ''),
    `    ${'read'.padEnd(48)}${'none ms'.padStart(10)}${'with ms'.padStart(10)}${'ratio'.padStart(8)}`,
  ];
  for (const row of r.rows) {
    const ratio = row.before !== undefined && row.after !== undefined ? (row.after / row.before).toFixed(2) : '-';
    const verdict = growthMet(row, r.maxRatio) ? 'MET' : 'MISSED';
    lines.push(`    ${row.name.padEnd(48)}${ms(row.before).padStart(10)}${ms(row.after).padStart(10)}${ratio.padStart(8)}  ${verdict}${row.error ? `: ${row.error}` : ''}`);
  }
  lines.push(`    => ${r.id} ${storageGrowthMet(r) ? 'MET' : 'MISSED'}`);
  return lines.join('\n');
}
