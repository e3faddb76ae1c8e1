/**
 * Our runtime for P1/P2: the requesting node runs here, the `bench-echo` actor on the worker's node
 * (another OS process), placed there explicitly; each call is `node.ask(ref, ping)`.
 */
import { performance } from 'node:perf_hooks';
import { setTimeout as delay } from 'node:timers/promises';
import { startNode } from '../../runtime/mod.js';
import type { ActorNode } from '../../runtime/mod.js';
import type { RemoteCaller } from '../caller.js';
import { BenchWorkerError } from '../errors.js';
import { benchLogger } from '../log.js';
import { checkEcho, ping } from '../payload.js';
import { ECHO_KIND } from './kinds.js';

/** Waits until `node` sees `nodeId` as a live member hosting `kind`. */
export async function waitForMember(node: ActorNode, nodeId: string, kind: string, timeoutMs = 20_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!node.members().some((m) => m.nodeId === nodeId && m.kinds.includes(kind) && !m.draining)) {
    if (performance.now() > deadline) {
      throw new BenchWorkerError(`runtime node ${nodeId} did not join the cluster within ${timeoutMs} ms; check its log above`);
    }
    await delay(20); // membership arrives with the responder's heartbeat; polled against the deadline
  }
}

export async function oursAskCaller(natsUrl: string, responderNodeId: string): Promise<RemoteCaller> {
  const name = 'ours: runtime ask';
  const node = await startNode({
    nats: natsUrl,
    logger: benchLogger('bench-runtime-asker').child({}, { level: 'warn' }),
  });
  try {
    await waitForMember(node, responderNodeId, ECHO_KIND);
    const ref = await node.spawn(ECHO_KIND, 'echo-1', { node: responderNodeId });
    return {
      name,
      async call(n: number): Promise<void> {
        checkEcho(name, n, await node.ask(ref, ping(n), { timeoutMs: 10_000 }));
      },
      close: () => node.close(),
    };
  } catch (err) {
    await node.close();
    throw err;
  }
}
