/**
 * `npm run bench`: the TARGETS.md performance targets P1, P2 and P3, each measured beside its peers
 * in the same run, and the informational measure S1 (storage latency, no target), against a
 * nats-server this run starts and stops.
 *
 * stdout: the report (per target: figures, ratios, target, MET or MISSED; per informational measure:
 * its figures; then a SUMMARY line).
 * stderr: progress and logs. Exit code 0 whether targets are met or not; 1 when the run itself
 * failed, 2 on a bad command line.
 */
import { spawnSync } from 'node:child_process';
import { cpus } from 'node:os';
import { BenchAbortedError, BenchUsageError } from './errors.js';
import { MEASURE_IDS, parseBenchArgs, USAGE, type BenchOptions } from './args.js';
import { benchLogger } from './log.js';
import { formatInfo, formatSummary, formatTarget, type InfoResult, type TargetResult } from './report.js';
import { runLocalTell } from './suites/local-tell.js';
import { runRemoteAsk } from './suites/remote-ask.js';
import { formatStorageGrowth, runStorageLatency, runStorageGrowth, storageGrowthMet } from './suites/storage-latency.js';
import { GROWTH_TARGETS, INFO_MEASURES, TARGETS } from './targets.js';
import { natsServerBinary, startNatsServer } from '../runtime/mod.js';
import { oursAskCaller } from './ours/remote-ask.js';
import { oursTellSession } from './ours/local-tell.js';
import { oursStorageGrowth, oursStorageSession } from './ours/storage.js';
import { runLoadTargets } from './suites/load-targets.js';
import { formatScale, scaleMet, type ScaleResult } from './scale-report.js';
import { resultsFile, writeResults } from './results-file.js';

function header(o: BenchOptions): string {
  const bin = natsServerBinary();
  const natsVersion = spawnSync(bin, ['--version'], { encoding: 'utf8' }).stdout.trim();
  const cpu = cpus();
  return [
    `Syncmesh bench, ${new Date().toISOString()}`,
    `node ${process.version}, ${cpu.length} cpus (${cpu[0]?.model ?? 'unknown'}), ${natsVersion}`,
    `each measure: ${o.warmupMs} ms warm-up, then ${o.durationMs} ms; ${o.rounds} round(s), peers interleaved, median round reported; measures ${o.only.join(',')}`,
    '',
  ].join('\n');
}

async function main(): Promise<number> {
  let options: BenchOptions;
  try {
    options = parseBenchArgs(process.argv.slice(2));
  } catch (err) {
    if (err instanceof BenchUsageError) {
      process.stderr.write(`${err.message}\n`);
      return 2;
    }
    throw err;
  }
  if (options.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const log = benchLogger('bench');
  const abort = new AbortController();
  const onSignal = (sig: NodeJS.Signals): void => {
    log.warn(`${sig}: stopping the measure under way and cleaning up (a second ${sig} stops at once)`);
    abort.abort();
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  process.stdout.write(header(options) + '\n');
  log.info('starting nats-server');
  const ns = await startNatsServer({ jetstream: true });
  const results: TargetResult[] = [];
  const infos: InfoResult[] = [];
  const growth: string[] = [];
  const scale: ScaleResult[] = [];
  try {
    const ctx = { natsUrl: ns.url, options, log, signal: abort.signal };
    const remote = options.only.filter((id) => id === 'P1' || id === 'P2').map((id) => TARGETS[id]);
    if (remote.length > 0) {
      for (const r of await runRemoteAsk(ctx, remote, oursAskCaller)) {
        results.push(r);
        process.stdout.write(formatTarget(r) + '\n\n');
      }
    }
    if (options.only.includes('P3')) {
      const r = await runLocalTell(ctx, TARGETS.P3, oursTellSession);
      results.push(r);
      process.stdout.write(formatTarget(r) + '\n\n');
    }
    if (options.only.some((id) => id === 'P4' || id === 'P5' || id === 'P6' || id === 'P7')) {
      await runLoadTargets(options, log, abort.signal, (r) => {
        scale.push(r);
        process.stdout.write(formatScale(r) + '\n\n');
      });
    }
    if (options.only.includes('P8')) {
      const r = await runStorageGrowth(ctx, GROWTH_TARGETS.P8, options.p8Records, oursStorageGrowth);
      growth.push(`${r.id} ${storageGrowthMet(r) ? 'MET' : 'MISSED'}`);
      process.stdout.write(formatStorageGrowth(r) + '\n\n');
    }
    if (options.only.includes('S1')) {
      const r = await runStorageLatency(ctx, INFO_MEASURES.S1, oursStorageSession);
      infos.push(r);
      process.stdout.write(formatInfo(r) + '\n\n');
    }
  } catch (err) {
    if (err instanceof BenchAbortedError) {
      log.warn('interrupted: no summary');
      return 130;
    }
    throw err;
  } finally {
    log.info('stopping nats-server');
    await ns[Symbol.asyncDispose]();
  }
  process.stdout.write(formatSummary(results, infos) + (growth.length ? `; ${growth.join(', ')}` : '') + '\n');
  if (scale.length > 0) {
    const met = scale.filter(scaleMet);
    process.stdout.write(`SUMMARY (load): ${met.length} of ${scale.length} targets MET (${scale.map((r) => `${r.id} ${scaleMet(r) ? 'MET' : 'MISSED'}`).join(', ')})\n`);
  }
  // Figures are kept when a load target ran (or --out asks for them): a run of P1-P3 alone, such as
  // the smoke test's, must not overwrite the committed figures of a full run.
  if (scale.length > 0 || options.outGiven) {
    const l = options.load;
    const everything = MEASURE_IDS.every((id) => options.only.includes(id));
    const defaults = l.connections === 15_000 && l.clients === 10_000 && l.ratePerSec === 1_000 && l.loadMs === 60_000;
    const mode = l.quick ? 'quick' : everything && defaults ? 'full' : 'custom';
    const written = await writeResults(options.outDir, resultsFile(mode, results, scale, infos));
    log.info(`figures written to ${written.json} and ${written.svg}`);
  }
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
