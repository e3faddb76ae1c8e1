/**
 * The load targets in the order one run takes them: P6 (no cluster), then, on one Syncmesh cluster
 * started here and the same load processes, P4 (peers first, then N connections on one socket node),
 * P7 (that node killed), P5 (clients on two socket nodes, then Socket.IO's two nodes). Each prints as
 * soon as it is measured.
 */
import type { Logger } from 'pino';
import type { BenchOptions, ScaleId } from '../args.js';
import { Fleet } from '../load/fleet.js';
import { startBenchCluster } from '../load/syncmesh-cluster.js';
import type { ScaleResult } from '../scale-report.js';
import { runDistributor } from './distributor.js';
import { runIdleMemory, type IdleMemoryOutcome } from './idle-memory.js';
import { runPushLatency } from './push-latency.js';
import { runReconnectStorm } from './reconnect-storm.js';
import type { LoadContext } from './load-context.js';

export async function runLoadTargets(options: BenchOptions, log: Logger, signal: AbortSignal, emit: (r: ScaleResult) => void): Promise<void> {
  const want = (id: ScaleId): boolean => options.only.includes(id);
  if (want('P6')) emit(await runDistributor(log, options.load.allocationMs));
  if (!want('P4') && !want('P5') && !want('P7')) return;
  const o = options.load;
  const profileArgs = o.profileDir ? ['--cpu-prof', '--cpu-prof-dir', o.profileDir, '--heapsnapshot-signal=SIGUSR2', '--diagnostic-dir', o.profileDir] : [];
  // SYNCMESH_BENCH_NODE_FLAGS: more Node flags for the cluster's nodes (`--trace-gc`, say; their output lands in the kept logs).
  const nodeFlags = (process.env['SYNCMESH_BENCH_NODE_FLAGS'] ?? '').split(/\s+/).filter(Boolean);
  const cluster = await startBenchCluster(log, { profileExecArgv: [...profileArgs, ...nodeFlags] });
  let fleet: Fleet | undefined;
  try {
    // With --profile-dir the load processes are profiled too: on this machine they share the 2 cores.
    const fleetArgs = o.profileDir ? ['--cpu-prof', '--cpu-prof-dir', o.profileDir] : [];
    fleet = await Fleet.start(Fleet.processesFor(Math.max(o.connections, o.clients)), log, fleetArgs, signal);
    const ctx: LoadContext = { log, options: o, cluster, fleet, signal };
    let p4: IdleMemoryOutcome | undefined;
    if (want('P4') || want('P7')) {
      p4 = await runIdleMemory(ctx);
      if (want('P4')) emit(p4.result);
    }
    if (want('P7') && p4 && !signal.aborted) emit(await runReconnectStorm(ctx, p4));
    else if (p4) await fleet.close();
    if (want('P5') && !signal.aborted) emit(await runPushLatency(ctx));
  } finally {
    await fleet?.stop();
    await cluster.stop();
  }
}
