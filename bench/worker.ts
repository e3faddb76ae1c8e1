/**
 * A benchmark worker process: the responding side of one remote peer.
 *
 *   node dist/bench/worker.js <mode> <natsUrl> [nodeId]
 *
 * modes: rpc-responder, moleculer-responder, runtime-responder. nodeId names the Moleculer broker or
 * the runtime node (default `bench-<mode>-<pid>`).
 *
 * Prints `ready {"mode","nodeId"}` on stdout once it answers requests, logs to stderr, and shuts down
 * cleanly (so `--cpu-prof` profiles get written) when its stdin closes or on SIGTERM / SIGINT.
 */
import { connect } from '@nats-io/transport-node';
import type { Logger } from 'pino';
import { startNode } from '../runtime/mod.js';
import { echoKind } from './ours/kinds.js';
import { benchLogger } from './log.js';
import { startMoleculerResponder } from './peers/moleculer.js';
import { startRpcResponder } from './peers/raw-rpc.js';
import { WORKER_MODES, type WorkerMode } from './worker-process.js';

type Stop = () => Promise<void>;

async function rpcResponder(natsUrl: string, _nodeId: string, _log: Logger): Promise<Stop> {
  const nc = await connect({ servers: natsUrl, name: 'bench-rpc-responder' });
  startRpcResponder(nc);
  await nc.flush(); // the subscription is registered on the server before we say ready
  return () => nc.close();
}

async function moleculerResponder(natsUrl: string, nodeId: string, _log: Logger): Promise<Stop> {
  const broker = await startMoleculerResponder(natsUrl, nodeId);
  return () => broker.stop();
}

async function runtimeResponder(natsUrl: string, nodeId: string, log: Logger): Promise<Stop> {
  // It hosts the echo kind; the bench spawns the actor here from the other process.
  const node = await startNode({ nats: natsUrl, nodeId, kinds: [echoKind], logger: log.child({}, { level: 'warn' }) });
  return () => node.close();
}

const START: Record<WorkerMode, (natsUrl: string, nodeId: string, log: Logger) => Promise<Stop>> = {
  'rpc-responder': rpcResponder,
  'moleculer-responder': moleculerResponder,
  'runtime-responder': runtimeResponder,
};

async function main(): Promise<void> {
  const [mode, natsUrl, nodeIdArg] = process.argv.slice(2);
  const log = benchLogger(`bench-worker:${mode ?? '?'}`);
  const nodeId = nodeIdArg ?? `bench-${mode ?? 'worker'}-${process.pid}`;
  if (!(WORKER_MODES as readonly string[]).includes(mode ?? '') || !natsUrl) {
    log.error(`usage: node dist/bench/worker.js <${WORKER_MODES.join('|')}> <natsUrl> [nodeId]`);
    process.exit(2);
  }
  const m = mode as WorkerMode;
  let stop: Stop;
  try {
    stop = await START[m](natsUrl, nodeId, log);
  } catch (err) {
    log.error({ err }, `worker ${m} could not start`);
    process.exit(1);
  }
  let stopping = false;
  const shutdown = (why: string): void => {
    if (stopping) return;
    stopping = true;
    log.debug({ why }, 'stopping');
    stop().then(
      () => process.exit(0),
      (err: unknown) => {
        log.error({ err }, 'clean shutdown failed');
        process.exit(1);
      },
    );
  };
  process.stdin.on('end', () => shutdown('stdin closed'));
  process.stdin.on('close', () => shutdown('stdin closed'));
  process.stdin.resume();
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  process.once('SIGINT', () => shutdown('SIGINT'));
  log.info({ nodeId }, `worker ${m} ready`);
  process.stdout.write(`ready ${JSON.stringify({ mode: m, nodeId })}\n`);
}

await main();
