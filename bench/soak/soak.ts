/**
 * `npm run soak`: the R6 soak (TARGETS.md): minutes of connection churn and commits against a local
 * cluster; passes when no cluster process's resident memory grows more than the bound after warm-up
 * and no acknowledged commit is lost. Progress on stderr; the summary and `soak: PASS|FAIL (...)` on
 * stdout; the full result (every sample) as JSON in .tmp/ or --out. Exit code 0 on PASS, 1 on FAIL, 2 on misuse.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { BenchUsageError } from '../errors.js';
import { benchLogger } from '../log.js';
import { runSoak, summaryTable, type SoakOptions } from './soak-run.js';

const HELP = `Usage: npm run soak -- [options]

Runs a local cluster under connection churn and commits, samples the RSS of every cluster process
and fails when one grows more than --max-growth-pct after warm-up or an acknowledged commit is lost.

  --minutes N          minutes measured after the warm-up (default 10; the run lasts warm-up + N)
  --clients N          devices kept connected (default 300)
  --devices-per-user N devices of each user (default 2: one commits, the others receive sync)
  --churn-per-sec N    connections closed and reopened per second (default 10)
  --commits-per-sec N  commits per second (default 100)
  --warmup-s N         seconds of churn and commits before the RSS baseline (default 600)
  --sample-s N         seconds between RSS samples (default 5)
  --socket-nodes N     socket nodes (default 2)
  --max-growth-pct N   allowed RSS growth after warm-up (default 5: R6)
  --node-flags "F..."  extra Node flags for the storage, gateway and socket nodes, space-separated
                       (e.g. "--heapsnapshot-signal=SIGUSR2": kill -USR2 <pid> writes a heap snapshot)
  --out FILE           JSON result (default .tmp/soak-<time>.json)
  --help`;

/**
 * The default load and warm-up. nats-server's file store caches the block each stream writes to, and
 * those caches fill for about 10 minutes at these rates (a 25-minute run: its floor rose from 36 to
 * 41-51 MiB by minute 10, then stayed there), so the baseline is taken after 10 minutes; the Node
 * processes are steady after 2. Rates high enough that every process reaches its steady state well inside the
 * warm-up: V8 sizes a heap by the allocation rate it sees, and at 20 commits/s the storage node's young
 * generation was still growing toward its 2 x 16 MiB at minute 6 (its live heap flat at 16.7-17.0 MB
 * after every full GC, --trace-gc), which a 10-minute run reads as growth. More operations per minute
 * also make a leak per commit or per reconnect show sooner.
 */
const SOAK_DEFAULTS = { churnPerSec: 10, commitsPerSec: 100, warmupS: 600 } as const;

function num(values: Record<string, string | boolean | undefined>, name: string, dflt: number, min: number): number {
  const raw = values[name];
  if (raw === undefined) return dflt;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < min) throw new BenchUsageError(`--${name} ${String(raw)}: expected a number >= ${min}; see --help`);
  return n;
}

function parse(argv: string[]): { opts: SoakOptions; out: string } | undefined {
  const names = ['minutes', 'clients', 'devices-per-user', 'churn-per-sec', 'commits-per-sec', 'warmup-s', 'sample-s', 'socket-nodes', 'max-growth-pct', 'node-flags', 'out'] as const;
  const { values } = parseArgs({ args: argv, options: { ...Object.fromEntries(names.map((n) => [n, { type: 'string' as const }])), help: { type: 'boolean' } }, strict: true });
  if (values.help) return undefined;
  const v = values as Record<string, string | boolean | undefined>;
  const opts: SoakOptions = {
    minutes: num(v, 'minutes', 10, 0.1),
    clients: Math.floor(num(v, 'clients', 300, 2)),
    devicesPerUser: Math.floor(num(v, 'devices-per-user', 2, 2)),
    churnPerSec: num(v, 'churn-per-sec', SOAK_DEFAULTS.churnPerSec, 0.1),
    commitsPerSec: num(v, 'commits-per-sec', SOAK_DEFAULTS.commitsPerSec, 0.1),
    warmupS: num(v, 'warmup-s', SOAK_DEFAULTS.warmupS, 0),
    sampleS: num(v, 'sample-s', 5, 0.5),
    socketNodes: Math.floor(num(v, 'socket-nodes', 2, 1)),
    maxGrowthPct: num(v, 'max-growth-pct', 5, 0),
    nodeFlags: typeof v['node-flags'] === 'string' ? v['node-flags'].split(/\s+/).filter((f) => f !== '') : [],
  };
  const out = typeof v['out'] === 'string' ? v['out'] : `.tmp/soak-${new Date().toISOString().replace(/[:.]/g, '-')}.json`;
  return { opts, out: resolve(out) };
}

async function main(): Promise<number> {
  let parsed;
  try {
    parsed = parse(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    return 2;
  }
  if (!parsed) {
    process.stdout.write(`${HELP}\n`);
    return 0;
  }
  const log = benchLogger('soak');
  // Ctrl-C ends the churn early; the run is still checked, reported and cleaned up.
  const stop = new AbortController();
  process.once('SIGINT', () => stop.abort());
  process.once('SIGTERM', () => stop.abort());
  const result = await runSoak(parsed.opts, log, stop.signal);
  await mkdir(dirname(parsed.out), { recursive: true });
  await writeFile(parsed.out, `${JSON.stringify(result, null, 2)}\n`);
  process.stdout.write(`${summaryTable(result)}\nresult: ${parsed.out}\n`);
  return result.pass ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`soak: could not run: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
