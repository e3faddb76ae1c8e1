/**
 * One soak run (TARGETS.md R6): a local cluster (bench/load/syncmesh-cluster.ts, the programs of
 * `npm start`), a population of devices under connection churn and commits, the RSS of every cluster
 * process sampled throughout, and at the end the growth after warm-up per process and a check that
 * no acknowledged commit was lost.
 */
import type { Logger } from 'pino';
import { startBenchCluster } from '../load/syncmesh-cluster.js';
import { SoakDevices, type SoakCounters, type VerifyResult } from './devices.js';
import { growthAfterWarmup, sampleRss, type ProcessGrowth, type RssSample, type SampledProcess } from './rss-sampler.js';

export interface SoakOptions {
  /** Minutes measured after the warm-up (the run lasts warmupS + minutes). */
  readonly minutes: number;
  readonly clients: number;
  readonly devicesPerUser: number;
  readonly churnPerSec: number;
  readonly commitsPerSec: number;
  readonly warmupS: number;
  readonly sampleS: number;
  readonly socketNodes: number;
  /** The R6 bound: a process whose RSS grows more than this after warm-up fails the run. */
  readonly maxGrowthPct: number;
  /** Extra Node flags for the storage, gateway and socket nodes (e.g. --heapsnapshot-signal=SIGUSR2 to take heap snapshots by hand). */
  readonly nodeFlags?: readonly string[];
}

export interface SoakResult {
  readonly options: SoakOptions;
  readonly startedAt: string;
  readonly durationMs: number;
  readonly processes: readonly SampledProcess[];
  readonly counters: SoakCounters;
  readonly verify: VerifyResult;
  readonly growth: readonly ProcessGrowth[];
  readonly samples: readonly RssSample[];
  readonly pass: boolean;
  /** `soak: PASS` or `soak: FAIL (...)`. */
  readonly verdict: string;
}

const MiB = 1024 * 1024;

function rssLine(sample: RssSample): string {
  return Object.entries(sample.rss)
    .map(([name, bytes]) => `${name}=${(bytes / MiB).toFixed(0)}M`)
    .join(' ');
}

function verdictOf(growth: readonly ProcessGrowth[], verify: VerifyResult, maxGrowthPct: number): string {
  const unsampled = growth.find((g) => Number.isNaN(g.growthPct));
  if (unsampled) return `soak: FAIL (${unsampled.name} has ${unsampled.samples} samples after warm-up, too few to judge: run longer or sample more often)`;
  if (verify.lost > 0) return `soak: FAIL (${verify.lost} acknowledged commits lost)`;
  if (verify.unverified > 0) return `soak: FAIL (${verify.unverified} users' keys could not be read back; see the examples)`;
  const worst = [...growth].sort((a, b) => b.growthPct - a.growthPct)[0];
  if (worst && worst.growthPct > maxGrowthPct) return `soak: FAIL (${worst.name} grew ${worst.growthPct.toFixed(1)}% > ${maxGrowthPct}%)`;
  return 'soak: PASS';
}

/** Runs the soak; `signal` ends the churn and commit phase early (the run is then still checked and reported). */
export async function runSoak(opts: SoakOptions, log: Logger, signal?: AbortSignal): Promise<SoakResult> {
  const startedAt = new Date().toISOString();
  const cluster = await startBenchCluster(log, opts.nodeFlags?.length ? { profileExecArgv: opts.nodeFlags } : {});
  let devices: SoakDevices | undefined;
  try {
    for (let i = 0; i < opts.socketNodes; i++) await cluster.addSocketNode();
    await cluster.waitSocketServers(opts.socketNodes);
    const processes: SampledProcess[] = [
      ...cluster.sockets.map((n) => ({ name: n.name, pid: n.pid })),
      ...cluster.nodes.map((n) => ({ name: n.name, pid: n.pid })),
      { name: 'nats-server', pid: cluster.nats.pid },
    ];
    log.info(`soak: pids ${processes.map((p) => `${p.name}=${p.pid}`).join(' ')}; nats monitoring ${cluster.nats.monitorUrl}`);
    const users = Math.max(1, Math.ceil(opts.clients / opts.devicesPerUser));
    const devs = new SoakDevices(cluster.gatewayUrl, (userId) => cluster.token(userId), users, opts.devicesPerUser);
    devices = devs;
    log.info(`soak: opening ${devs.size} devices (${users} users x ${opts.devicesPerUser})`);
    await devs.openAll(20, 30_000);
    log.info(`soak: ${devs.connected} connected; churn ${opts.churnPerSec}/s, commits ${opts.commitsPerSec}/s for ${opts.warmupS} s of warm-up, then ${opts.minutes} min measured`);

    const t0 = Date.now();
    const durationMs = opts.warmupS * 1000 + opts.minutes * 60_000;
    const samples: RssSample[] = [];
    let churning = 0;
    // Churn and commits on timers; a churn waits for its close and reopen, at most 50 at once so a slow
    // cluster sees bounded pressure rather than a pile-up.
    const churnTimer = setInterval(() => {
      if (churning >= 50) return;
      churning++;
      void devs.churnOne(30_000).finally(() => churning--);
    }, 1000 / opts.churnPerSec);
    const commitTimer = setInterval(() => devs.commitOne(), 1000 / opts.commitsPerSec);
    try {
      while (Date.now() - t0 < durationMs && !signal?.aborted) {
        const sample = await sampleRss(processes, Date.now() - t0);
        samples.push(sample);
        const c = devs.counters;
        log.info(
          `soak: ${((Date.now() - t0) / 1000).toFixed(0)}s connected=${devs.connected}/${devs.size} churned=${c.churned} commits=${c.commitsAcked}/${c.commitsSent} received=${c.received} errors=${Object.values(c.errors).reduce((a, b) => a + b, 0)} rss ${rssLine(sample)}`,
        );
        await new Promise((r) => setTimeout(r, Math.max(0, Math.min(opts.sampleS * 1000, durationMs - (Date.now() - t0)))));
      }
      samples.push(await sampleRss(processes, Date.now() - t0));
    } finally {
      clearInterval(churnTimer);
      clearInterval(commitTimer);
    }
    const ranMs = Date.now() - t0;
    log.info('soak: churn and commits stopped; waiting for answers, then checking every acknowledged commit');
    await devs.settle(30_000);
    const verify = await devs.verify(10, 30_000);
    const growth = growthAfterWarmup(processes, samples, opts.warmupS * 1000);
    const verdict = verdictOf(growth, verify, opts.maxGrowthPct);
    return { options: opts, startedAt, durationMs: ranMs, processes, counters: devs.counters, verify, growth, samples, pass: verdict === 'soak: PASS', verdict };
  } finally {
    await devices?.closeAll();
    await cluster.stop();
  }
}

/** The summary table (one row per process) and the counters, as text. */
export function summaryTable(r: SoakResult): string {
  const mb = (b: number): string => (b / MiB).toFixed(1).padStart(9);
  const lines = [
    `soak: ${(r.durationMs / 60_000).toFixed(1)} min (warm-up ${r.options.warmupS} s, then ${r.options.minutes} min measured), ${r.options.clients} clients, ${r.options.commitsPerSec} commits/s, ${r.options.churnPerSec} reconnects/s, bound ${r.options.maxGrowthPct}%`,
    `${'process'.padEnd(12)} ${'samples'.padStart(7)} ${'start MiB'.padStart(9)} ${'end MiB'.padStart(9)} ${'peak MiB'.padStart(9)} ${'growth'.padStart(8)}`,
    ...r.growth.map((g) => `${g.name.padEnd(12)} ${String(g.samples).padStart(7)} ${mb(g.startBytes)} ${mb(g.endBytes)} ${mb(g.peakBytes)} ${(Number.isNaN(g.growthPct) ? 'n/a' : `${g.growthPct.toFixed(1)}%`).padStart(8)}`),
    `connections opened ${r.counters.opened}, churned ${r.counters.churned}; commits sent ${r.counters.commitsSent}, acknowledged ${r.counters.commitsAcked}, abandoned by churn ${r.counters.commitsAbandoned}; changes received by other devices ${r.counters.received}`,
    `errors: ${Object.keys(r.counters.errors).length === 0 ? 'none' : JSON.stringify(r.counters.errors)}`,
    `acknowledged keys checked ${r.verify.checkedKeys}, lost ${r.verify.lost}, users not read back ${r.verify.unverified}${r.verify.examples.length ? ` (${r.verify.examples.join('; ')})` : ''}`,
    r.verdict,
  ];
  return lines.join('\n');
}
