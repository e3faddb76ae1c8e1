/**
 * Our runtime for P3: one `bench-counter` actor on this node, sent `ping` events with node.tell.
 *
 * A tell only enqueues; the event counts once the actor has processed it. So each batch tells
 * `batchSize` pings (below the default mailbox capacity, 1024) and then asks `get`, which answers
 * after every earlier tell from this sender (per-sender order): the figure counts processed
 * events, and the mailbox never overflows. The ask costs one message per batch.
 */
import { startNode } from '../../runtime/mod.js';
import type { ActorRef } from '../../runtime/mod.js';
import { BenchMeasureError } from '../errors.js';
import { benchLogger } from '../log.js';
import { timedBatches } from '../measure.js';
import { ping } from '../payload.js';
import type { OursTellSession } from '../suites/local-tell.js';
import { COUNTER_KIND, counterKind } from './kinds.js';

export async function oursTellSession(natsUrl: string): Promise<OursTellSession> {
  const name = 'ours: node.tell';
  const node = await startNode({
    nats: natsUrl,
    kinds: [counterKind],
    logger: benchLogger('bench-runtime-local').child({}, { level: 'warn' }),
  });
  let target: ActorRef;
  try {
    target = await node.spawn(COUNTER_KIND, 'counter-1');
  } catch (err) {
    await node.close();
    throw err;
  }
  let n = 0;
  const count = (): Promise<number> => node.ask<number>(target, { type: 'get' }, { timeoutMs: 10_000 });
  return {
    async measure({ durationMs, warmupMs, batchSize, signal }) {
      const batch = async (): Promise<number> => {
        for (let i = 0; i < batchSize; i++) node.tell(target, ping(n++));
        await count();
        return batchSize;
      };
      if (warmupMs > 0) await timedBatches(name, warmupMs, batch, signal);
      const before = await count();
      const sample = await timedBatches(name, durationMs, batch, signal);
      const counted = (await count()) - before;
      if (counted !== sample.ops) {
        const dropped = node.metrics().mailboxDropped;
        throw new BenchMeasureError(
          `${name}: told ${sample.ops} events but the actor counted ${counted} (mailbox dropped ${dropped} in total); ` +
            'lower the batch size below the mailbox capacity or fix the runtime',
        );
      }
      return sample;
    },
    close: () => node.close(),
  };
}
