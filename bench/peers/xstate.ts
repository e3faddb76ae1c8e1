/**
 * Peer for P3: bare XState v5, one actor whose machine counts `ping` events with `assign`; events are
 * delivered with `actor.send`, which processes them synchronously.
 */
import { assign, createActor, setup } from 'xstate';
import { timedBatches, type Sample } from '../measure.js';
import { BenchMeasureError } from '../errors.js';
import { ping, type PingEvent } from '../payload.js';

const counter = setup({
  types: { context: {} as { count: number }, events: {} as PingEvent },
}).createMachine({
  context: { count: 0 },
  on: { ping: { actions: assign({ count: ({ context }) => context.count + 1 }) } },
});

/** Measures `actor.send` throughput for `durationMs` after `warmupMs` of the same load. */
export async function measureBareXState(durationMs: number, warmupMs: number, batchSize: number, signal?: AbortSignal): Promise<Sample> {
  const name = 'bare XState send';
  const actor = createActor(counter).start();
  try {
    let n = 0;
    const batch = (): number => {
      for (let i = 0; i < batchSize; i++) actor.send(ping(n++));
      return batchSize;
    };
    if (warmupMs > 0) await timedBatches(name, warmupMs, batch, signal);
    const before = actor.getSnapshot().context.count;
    const sample = await timedBatches(name, durationMs, batch, signal);
    const counted = actor.getSnapshot().context.count - before;
    if (counted !== sample.ops) {
      throw new BenchMeasureError(`${name}: sent ${sample.ops} events but the actor counted ${counted}`);
    }
    return sample;
  } finally {
    actor.stop();
  }
}
