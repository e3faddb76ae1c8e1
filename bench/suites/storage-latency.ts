/**
 * S1 (informational, no target): latency of our storage, one request in flight. Each round runs every
 * operation once (prepare, warm-up, measure); throughput is the median round, p50 and p99 are pooled
 * over every round's latencies. An operation that fails once is not measured again.
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
