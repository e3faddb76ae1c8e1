/**
 * A benchmark worker process: the responding side of one remote peer.
 *
 *   node dist/bench/worker.js <mode> <natsUrl> [nodeId]
 *
 * modes: rpc-responder, moleculer-responder, runtime-responder. nodeId names the Moleculer broker or
 * the runtime node; without it the runtime node takes its own default id (what applications get)
 * and Moleculer `bench-responder-<pid>`. The ready line carries the id in use.
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

interface Started {
  /** The node id in use (empty for the plain NATS responder, which has none). */
  readonly nodeId: string;
  readonly stop: () => Promise<void>;
}

async function rpcResponder(natsUrl: string, _nodeId: string | undefined, _log: Logger): Promise<Started> {
  const nc = await connect({ servers: natsUrl, name: 'bench-rpc-responder' });
  startRpcResponder(nc);
  await nc.flush(); // the subscription is registered on the server before we say ready
  return { nodeId: '', stop: () => nc.close() };
}

async function moleculerResponder(natsUrl: string, nodeId: string | undefined, _log: Logger): Promise<Started> {
  const id = nodeId ?? `bench-responder-${process.pid}`;
  const broker = await startMoleculerResponder(natsUrl, id);
  return { nodeId: id, stop: () => broker.stop() };
}

async function runtimeResponder(natsUrl: string, nodeId: string | undefined, log: Logger): Promise<Started> {
  // It hosts the echo kind; the bench spawns the actor here from the other process.
  const node = await startNode({ nats: natsUrl, ...(nodeId ? { nodeId } : {}), kinds: [echoKind], logger: log.child({}, { level: 'warn' }) });
  return { nodeId: node.id, stop: () => node.close() };
}

const START: Record<WorkerMode, (natsUrl: string, nodeId: string | undefined, log: Logger) => Promise<Started>> = {
  'rpc-responder': rpcResponder,
  'moleculer-responder': moleculerResponder,
  'runtime-responder': runtimeResponder,
};

async function main(): Promise<void> {
  const [mode, natsUrl, nodeIdArg] = process.argv.slice(2);
  const log = benchLogger(`bench-worker:${mode ?? '?'}`);
  if (!(WORKER_MODES as readonly string[]).includes(mode ?? '') || !natsUrl) {
    log.error(`usage: node dist/bench/worker.js <${WORKER_MODES.join('|')}> <natsUrl> [nodeId]`);
    process.exit(2);
  }
  const m = mode as WorkerMode;
  let started: Started;
  try {
    started = await START[m](natsUrl, nodeIdArg, log);
  } catch (err) {
    log.error({ err }, `worker ${m} could not start`);
    process.exit(1);
  }
  let stopping = false;
  const shutdown = (why: string): void => {
    if (stopping) return;
    stopping = true;
    log.debug({ why }, 'stopping');
    started.stop().then(
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
  const { nodeId } = started;
  log.info({ nodeId }, `worker ${m} ready`);
  process.stdout.write(`ready ${JSON.stringify({ mode: m, nodeId })}\n`);
}

await main();
