/**
 * P1 and P2: request/reply between two processes over one nats-server. Every contender's responder
 * runs in its own worker process; the requesting sides run here. Each round measures every
 * contender once (the order rotates per round); figures pool the rounds.
 */
import { connect } from '@nats-io/transport-node';
import type { RemoteCaller } from '../caller.js';
import { Cleanup } from '../cleanup.js';
import { BenchAbortedError } from '../errors.js';
import { closedLoop, pool, type Sample } from '../measure.js';
import { moleculerCaller } from '../peers/moleculer.js';
import { natsRequestCaller } from '../peers/nats-request.js';
import { rawRpcCaller } from '../peers/raw-rpc.js';
import type { Outcome, TargetResult } from '../report.js';
import type { PeerKey, TargetSpec } from '../targets.js';
import { startWorker, type WorkerHandle, type WorkerMode } from '../worker-process.js';
import type { SuiteContext } from './context.js';

/** Creates our runtime's requesting side, given the node id of the worker hosting the responder. */
export type OursCallerFactory = (natsUrl: string, responderNodeId: string) => Promise<RemoteCaller>;

type ContenderKey = PeerKey | 'ours';

interface Contender {
  readonly key: ContenderKey;
  caller: RemoteCaller | undefined;
  error: string | undefined;
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Runs the remote targets in `specs` (P1 and/or P2) and returns one result per spec. */
export async function runRemoteAsk(ctx: SuiteContext, specs: readonly TargetSpec[], oursCaller: OursCallerFactory): Promise<TargetResult[]> {
  const { natsUrl, options, log, signal } = ctx;
  const cleanup = new Cleanup(log);
  const pid = process.pid;
  try {
    log.info('remote: starting responder workers (correlation-id RPC, Moleculer, runtime node)');
    const worker = (mode: WorkerMode, nodeId?: string): Promise<WorkerHandle> =>
      startWorker(mode, natsUrl, { nodeId, cpuProfDir: options.cpuProfDir }).then((w) => {
        cleanup.add(`stop worker ${mode}`, () => w.stop());
        return w;
      });
    const [rpcW, molW, rtW] = await Promise.allSettled([
      worker('rpc-responder'),
      worker('moleculer-responder', `bench-mol-responder-${pid}`),
      // The runtime nodes keep their default ids, as applications get them (ids travel in envelopes).
      worker('runtime-responder'),
    ]);
    if (signal.aborted) throw new BenchAbortedError();

    const contender = async (
      key: ContenderKey,
      w: PromiseSettledResult<WorkerHandle>,
      make: (w: WorkerHandle) => Promise<RemoteCaller>,
    ): Promise<Contender> => {
      if (w.status === 'rejected') return { key, caller: undefined, error: `its responder did not start: ${message(w.reason)}` };
      try {
        const caller = await make(w.value);
        cleanup.add(`close ${caller.name}`, () => caller.close());
        return { key, caller, error: undefined };
      } catch (err) {
        log.error({ err }, `remote: ${key} could not start`);
        return { key, caller: undefined, error: `could not start: ${message(err)}` };
      }
    };
    const natsConnection = async (name: string) => {
      const nc = await connect({ servers: natsUrl, name });
      cleanup.add(`close ${name}`, () => nc.close());
      return nc;
    };
    log.info('remote: connecting the requesting sides');
    const contenders: Contender[] = [
      await contender('ours', rtW, (w) => oursCaller(natsUrl, w.nodeId)),
      await contender('raw', rpcW, async () => rawRpcCaller(await natsConnection('bench-raw-rpc'))),
      await contender('request', rpcW, async () => natsRequestCaller(await natsConnection('bench-request'))),
      await contender('moleculer', molW, () => moleculerCaller(natsUrl, `bench-mol-caller-${pid}`)),
    ];

    const results: TargetResult[] = [];
    for (const spec of specs) {
      const inFlight = spec.inFlight ?? 1;
      const wanted = new Set<ContenderKey>(['ours', ...spec.peers.map((p) => p.key)]);
      const active = contenders.filter((c) => wanted.has(c.key));
      const samples = new Map<ContenderKey, Sample[]>();
      for (let round = 0; round < options.rounds; round++) {
        const order = active.map((_, i) => active[(i + round) % active.length]!);
        for (const c of order) {
          if (!c.caller || c.error) continue;
          const caller = c.caller;
          log.info(`${spec.id} round ${round + 1}/${options.rounds}: ${caller.name}, ${inFlight} in flight`);
          try {
            const call = (n: number): Promise<void> => caller.call(n);
            if (options.warmupMs > 0) await closedLoop(call, { name: caller.name, inFlight, durationMs: options.warmupMs, signal });
            const sample = await closedLoop(call, {
              name: caller.name,
              inFlight,
              durationMs: options.durationMs,
              recordLatency: spec.showLatency,
              signal,
            });
            samples.set(c.key, [...(samples.get(c.key) ?? []), sample]);
          } catch (err) {
            if (err instanceof BenchAbortedError) throw err;
            log.error({ err }, `${spec.id}: ${caller.name} failed`);
            c.error = message(err); // a peer that failed once is not trusted for later figures
          }
        }
      }
      const outcome = (key: ContenderKey): Outcome => {
        const c = contenders.find((x) => x.key === key);
        const s = samples.get(key);
        if (c?.error) return { error: c.error };
        if (!s || s.length === 0) return { error: 'no figure was taken' };
        return { figure: pool(s) };
      };
      results.push({
        spec,
        ours: outcome('ours'),
        peers: Object.fromEntries(spec.peers.map((p) => [p.key, outcome(p.key)])),
      });
    }
    return results;
  } finally {
    log.info('remote: stopping workers and connections');
    await cleanup.runAll();
  }
}
