/**
 * What a passivation wave does to another writer of the same nats-server (docs/performance.md, P7
 * "Session 11"): one runtime node activates N virtual actors at once, they go idle together and
 * passivate together (each removes its lease: a JetStream delete), while a probe on its own connection
 * writes compare-and-set messages (as the storage's index writes do) one after another. Prints the
 * probe's latency during the wave.
 *
 *   node dist/bench/tools/passivation-wave.js [--actors 10000] [--limit 32] [--passivate-ms 3000]
 *
 * `--limit` is the node's maxPassivationsInFlight; a limit above --actors passivates all at once, as
 * the runtime did before it had one.
 */
import { parseArgs } from 'node:util';
import { setup } from 'xstate';
import pino from 'pino';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { headers } from '@nats-io/nats-core';
import { connect } from '@nats-io/transport-node';
import { defineActor, reply, startNatsServer, startNode, type ActorMessage } from '../../runtime/mod.js';
import { percentile } from '../measure.js';

function options(): { actors: number; limit: number; passivateMs: number } {
  const { values } = parseArgs({
    options: {
      actors: { type: 'string', default: '10000' },
      limit: { type: 'string', default: '32' },
      'passivate-ms': { type: 'string', default: '3000' },
    },
  });
  const int = (name: string, v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) throw new TypeError(`--${name} must be a whole number, 1 or more; got ${v}`);
    return n;
  };
  return { actors: int('actors', values.actors), limit: int('limit', values.limit), passivateMs: int('passivate-ms', values['passivate-ms']) };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function main(): Promise<void> {
  const o = options();
  const machine = setup({ types: { events: {} as ActorMessage } }).createMachine({ on: { ping: { actions: ({ event }) => void reply(event, 1) } } });
  const kind = defineActor({ kind: 'wave', machine, options: { passivateAfterMs: o.passivateMs } });
  const ns = await startNatsServer({ jetstream: true });
  const node = await startNode({ nats: ns.url, kinds: [kind], logger: pino({ level: 'warn' }), maxPassivationsInFlight: o.limit });
  const nc = await connect({ servers: ns.url });
  try {
    await (await jetstreamManager(nc)).streams.add({ name: 'PROBE', subjects: ['probe.>'], max_msgs_per_subject: 1 });
    const js = jetstream(nc);
    const samples: [at: number, ms: number][] = [];
    let probing = true;
    const probe = (async (): Promise<void> => {
      let last = 0;
      while (probing) {
        const h = headers();
        h.set('Nats-Expected-Last-Subject-Sequence', String(last));
        const t = performance.now();
        last = (await js.publish('probe.x', new Uint8Array(600), { headers: h })).seq;
        samples.push([Date.now(), performance.now() - t]);
        await sleep(2);
      }
    })();
    process.stderr.write(`activating ${o.actors} actors...\n`);
    for (let i = 0; i < o.actors; i += 250) {
      const batch = Array.from({ length: Math.min(250, o.actors - i) }, (_, j) => node.ask({ kind: 'wave', id: `a${i + j}` }, { type: 'ping' }));
      await Promise.all(batch);
    }
    const activated = Date.now();
    process.stderr.write(`waiting for them to passivate (after ${o.passivateMs} ms idle)...\n`);
    const deadline = activated + o.passivateMs + 60_000;
    let firstGone = 0;
    while (node.metrics().activeActors > 0 && Date.now() < deadline) {
      await sleep(20);
      if (firstGone === 0 && node.metrics().activeActors < o.actors) firstGone = Date.now();
    }
    const ended = Date.now();
    probing = false;
    await probe;
    const during = samples.filter(([at]) => at >= firstGone && at <= ended).map(([, ms]) => ms).sort((a, b) => a - b);
    const fmt = (n: number | undefined): string => (n === undefined || Number.isNaN(n) ? '-' : n.toFixed(2));
    const still = node.metrics().activeActors;
    console.log(
      `${o.actors} actors, at most ${o.limit} passivating at once: the wave took ${ended - firstGone} ms${still > 0 ? ` (${still} still active at the deadline)` : ''}; ` +
        `probe writes during it ${during.length}, p50 ${fmt(percentile(during, 0.5))} ms, p99 ${fmt(percentile(during, 0.99))} ms, max ${fmt(during.at(-1))} ms`,
    );
  } finally {
    await node.close();
    await nc.close();
    await ns.stop();
  }
}

main().catch((err: unknown) => {
  console.error(`passivation-wave: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
