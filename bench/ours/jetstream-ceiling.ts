/**
 * JetStream's write ceiling per stream on this machine, by hand (docs/capacity.md uses it): one
 * nats-server (file storage, one replica, as `npm start`), one stream, acknowledged publishes of
 * 200-byte messages to distinct subjects with 1, 64 and 256 in flight for a few seconds each; and
 * compare-and-set KV updates (the session fence's claim) with 64 in flight.
 *
 *   npm run build && node dist/bench/ours/jetstream-ceiling.js [--seconds 5]
 */
import { connect } from '@nats-io/transport-node';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { performance } from 'node:perf_hooks';
import { startNatsServer } from '../../runtime/mod.js';

const i = process.argv.indexOf('--seconds');
const seconds = i >= 0 ? Number(process.argv[i + 1]) : 5;

async function loop(inFlight: number, op: (n: number) => Promise<unknown>): Promise<{ perSec: number; p50: number; p99: number }> {
  const lat: number[] = [];
  let n = 0;
  const end = performance.now() + seconds * 1000;
  const start = performance.now();
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (performance.now() < end) {
        const t0 = performance.now();
        await op(n++);
        lat.push(performance.now() - t0);
      }
    }),
  );
  lat.sort((a, b) => a - b);
  return { perSec: (lat.length * 1000) / (performance.now() - start), p50: lat[Math.floor(lat.length * 0.5)] ?? 0, p99: lat[Math.floor(lat.length * 0.99)] ?? 0 };
}

async function main(): Promise<void> {
  await using ns = await startNatsServer({ jetstream: true });
  const nc = await connect({ servers: ns.url });
  const jsm = await jetstreamManager(nc);
  await jsm.streams.add({ name: 'ceiling', subjects: ['ceiling.>'], max_msgs_per_subject: 1 });
  const js = jetstream(nc);
  const body = new Uint8Array(200);
  const fmt = (r: { perSec: number; p50: number; p99: number }): string => `${Math.round(r.perSec)}/s p50 ${r.p50.toFixed(2)} ms p99 ${r.p99.toFixed(2)} ms`;
  for (const inFlight of [1, 64, 256]) {
    const r = await loop(inFlight, (n) => js.publish(`ceiling.u${n % 100_000}`, body));
    process.stdout.write(`stream publish, ${inFlight} in flight: ${fmt(r)}\n`);
  }
  const kv = await new Kvm(nc).create('ceiling_kv', { history: 1 });
  const revs = new Map<string, number>();
  const r = await loop(64, async (n) => {
    const key = `k${n % 50_000}`;
    const rev = revs.get(key);
    // The fence's claim: a compare-and-set write on the revision last seen (create when none).
    const next = rev === undefined ? await kv.create(key, body).catch(async () => kv.put(key, body)) : await kv.update(key, body, rev).catch(async () => kv.put(key, body));
    revs.set(key, next);
  });
  process.stdout.write(`KV compare-and-set, 64 in flight: ${fmt(r)}\n`);
  await nc.close();
}

main().catch((err: unknown) => {
  process.stderr.write(`jetstream-ceiling failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
