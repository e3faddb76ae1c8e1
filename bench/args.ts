/**
 * Command line of `npm run bench` (`node dist/bench/run.js [options]`).
 */
import { parseArgs } from 'node:util';
import { resolve } from 'node:path';
import { BenchUsageError } from './errors.js';

/** TARGETS.md performance targets: measured beside their peers, MET or MISSED. */
export const TARGET_IDS = ['P1', 'P2', 'P3'] as const;
export type TargetId = (typeof TARGET_IDS)[number];
/** TARGETS.md load targets (connections, pushes, allocation, reconnect storm): bench/scale-report.ts. */
export const SCALE_IDS = ['P4', 'P5', 'P6', 'P7'] as const;
export type ScaleId = (typeof SCALE_IDS)[number];
/** Informational measures: printed with their figures, no target, not counted in the summary's targets. */
export const INFO_IDS = ['S1'] as const;
export type InfoId = (typeof INFO_IDS)[number];
/** Targets measured against ourselves (P8: storage reads without vs with other users' data). */
export const GROWTH_IDS = ['P8'] as const;
export type GrowthId = (typeof GROWTH_IDS)[number];
/** Everything `--only` can name, in the order a run takes them. */
export const MEASURE_IDS = [...TARGET_IDS, ...SCALE_IDS, ...GROWTH_IDS, ...INFO_IDS] as const;
export type MeasureId = TargetId | ScaleId | GrowthId | InfoId;

export interface BenchOptions {
  /** Targets and informational measures to run, in MEASURE_IDS order. */
  readonly only: readonly MeasureId[];
  /** How long each measure runs, per round. */
  readonly durationMs: number;
  /** Unmeasured load before each measure, so every peer runs JIT-compiled code. */
  readonly warmupMs: number;
  /**
   * Rounds per target. Each round runs every peer of the target once, one after the other (the order
   * rotating), so load from other work on a shared machine hits all of them alike; a throughput
   * figure is the median of its rounds.
   */
  readonly rounds: number;
  /** P8: records of other users stored before the second measure (quick 100k; full 1M). */
  readonly p8Records: number;
  /** When set, worker processes run with `--cpu-prof` and write their profiles here. */
  readonly cpuProfDir: string | undefined;
  /** Sizes of the load targets (P4-P7). */
  readonly load: LoadOptions;
  /** Where the figures (JSON) and the chart (SVG) are written. */
  readonly outDir: string;
  /** --out was given: write the figures even when no load target ran. */
  readonly outGiven: boolean;
  readonly help: boolean;
}

/** Sizes of the load targets; `--quick` picks small ones, flags override each. */
export interface LoadOptions {
  readonly quick: boolean;
  /** P4 and P7: connections on the one socket node that is measured, then killed. */
  readonly connections: number;
  /** P4: when the checked reading of every server is taken, in ms after its last connection opened (at least 18 s). */
  readonly idleReadMs: number;
  /** P5: connected clients (two devices per user). */
  readonly clients: number;
  /** P5: commits (and Socket.IO emits) per second. */
  readonly ratePerSec: number;
  /** P5: measured time of the push load, after `loadWarmupMs`. */
  readonly loadMs: number;
  readonly loadWarmupMs: number;
  /** P6: measured time of the allocation load. */
  readonly allocationMs: number;
  /** When set, socket nodes run with --cpu-prof (profiles written here when they stop) and take a heap snapshot after P4. */
  readonly profileDir: string | undefined;
}

export const USAGE = `Usage: npm run bench -- [options]    (or: node dist/bench/run.js [options])

  --only P1,S1          run only these (default: ${MEASURE_IDS.join(',')}); S1 (storage
                        latency) is informational: printed, no target
  --duration-ms N       measured time per measure and round (default 3000)
  --warmup-ms N         unmeasured warm-up before each measure (default 500)
  --rounds N            rounds per measure, peers interleaved; throughput is the
                        median over rounds, latency pooled over rounds (default 3)
  --p8-records N        P8: records of other users stored (default 100000; the
                        full measure of TARGETS.md is 1000000)
  --cpu-prof-dir DIR    run worker processes with --cpu-prof, profiles written to DIR
                        (profile the main process with: node --cpu-prof dist/bench/run.js)
  --quick               small load targets (2k connections, 2k clients, 20 s of load):
                        a few minutes; default is the full size of TARGETS.md
  --connections N       P4/P7 connections on the measured socket node (full 15000)
  --clients N           P5 connected clients (full 10000)
  --rate N              P5 commits per second (1000)
  --load-ms N           P5 measured time of the push load (full 60000, quick 20000)
  --idle-read-s N       P4: the checked memory reading, N s after each server's last
                        open (default 60, at least 18: also always read at 18 s)
  --profile-dir DIR     every node process (socket, storage, gateway) and load process
                        runs with --cpu-prof (written to DIR when it stops); the socket
                        node writes a heap snapshot to DIR after P4
  --out DIR             where the figures (bench-<mode>.json) and chart (bench-<mode>.svg)
                        are written (default docs/bench, and only when a load target ran);
                        mode is full (everything, default sizes), quick, or custom
  --help                this text

Prints, per target, each figure, the ratio to each peer, the target and MET or MISSED on stdout;
progress goes to stderr. The exit code is 0 even when a target is missed (it is a report);
it is 1 only when the benchmark itself could not run.`;

function positiveInt(name: string, text: string | undefined, fallback: number, min: number): number {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value < min) {
    throw new BenchUsageError(`--${name} must be a whole number >= ${min}, got "${text}". Run with --help for usage.`);
  }
  return value;
}

/** Parses argv (without node and script). Throws BenchUsageError with advice on bad input. */
export function parseBenchArgs(argv: readonly string[]): BenchOptions {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      options: {
        only: { type: 'string' },
        'duration-ms': { type: 'string' },
        'warmup-ms': { type: 'string' },
        rounds: { type: 'string' },
        'cpu-prof-dir': { type: 'string' },
        'p8-records': { type: 'string' },
        quick: { type: 'boolean', default: false },
        connections: { type: 'string' },
        clients: { type: 'string' },
        rate: { type: 'string' },
        'load-ms': { type: 'string' },
        'idle-read-s': { type: 'string' },
        'profile-dir': { type: 'string' },
        out: { type: 'string' },
        help: { type: 'boolean', default: false },
      },
      allowPositionals: false,
      strict: true,
    });
  } catch (err) {
    throw new BenchUsageError(`${(err as Error).message}. Run with --help for usage.`, { cause: err });
  }
  const v = parsed.values;
  let only: MeasureId[] = [...MEASURE_IDS];
  if (v.only !== undefined) {
    const asked = v.only.split(',').map((s) => s.trim().toUpperCase()).filter((s) => s.length > 0);
    const unknown = asked.filter((s) => !(MEASURE_IDS as readonly string[]).includes(s));
    if (asked.length === 0 || unknown.length > 0) {
      throw new BenchUsageError(
        `--only takes a comma-separated list of ${MEASURE_IDS.join(', ')}; "${unknown.join(',') || v.only}" is not one of them.`,
      );
    }
    only = MEASURE_IDS.filter((id) => asked.includes(id));
  }
  return {
    only,
    durationMs: positiveInt('duration-ms', v['duration-ms'], 3_000, 100),
    warmupMs: positiveInt('warmup-ms', v['warmup-ms'], 500, 0),
    rounds: positiveInt('rounds', v.rounds, 3, 1),
    p8Records: positiveInt('p8-records', v['p8-records'], 100_000, 100),
    cpuProfDir: v['cpu-prof-dir'] === undefined ? undefined : resolve(v['cpu-prof-dir']),
    load: loadOptions(v),
    outDir: resolve(v.out ?? 'docs/bench'),
    outGiven: v.out !== undefined,
    help: v.help ?? false,
  };
}

function loadOptions(v: { quick?: boolean; connections?: string; clients?: string; rate?: string; 'load-ms'?: string; 'idle-read-s'?: string; 'profile-dir'?: string }): LoadOptions {
  const quick = v.quick ?? false;
  const loadMs = positiveInt('load-ms', v['load-ms'], quick ? 20_000 : 60_000, 500);
  return {
    quick,
    connections: positiveInt('connections', v.connections, quick ? 2_000 : 15_000, 2),
    idleReadMs: positiveInt('idle-read-s', v['idle-read-s'], 60, 18) * 1000,
    clients: positiveInt('clients', v.clients, quick ? 2_000 : 10_000, 4),
    ratePerSec: positiveInt('rate', v.rate, 1_000, 1),
    loadMs,
    loadWarmupMs: Math.min(loadMs, quick ? 3_000 : 5_000),
    allocationMs: quick ? 3_000 : 5_000,
    profileDir: v['profile-dir'] === undefined ? undefined : resolve(v['profile-dir']),
  };
}
