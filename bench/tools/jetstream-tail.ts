/**
 * What the tail of a JetStream write costs on this nats-server, without Syncmesh around it: one
 * nats-server with a file-store stream, open-loop writes at a fixed rate over a set of subjects, the
 * ack latency of each, and the slow ones grouped into stalls (docs/performance.md, P5).
 *
 *   node dist/bench/tools/jetstream-tail.js [--mode cas|plain|last1] [--bytes 600] [--rate 1000]
 *                                            [--seconds 10] [--subjects 1000]
 *
 * Modes: `plain` appends; `cas` appends with Nats-Expected-Last-Subject-Sequence (what every index and
 * KV write of Syncmesh does); `last1` appends to a stream with max_msgs_per_subject 1 (the index
 * stream's and KV buckets' setting: each write deletes the subject's previous message).
 * Prints p50/p90/p99/max and each stall (a run of writes slower than 8 ms): when it started, how many
 * writes it held up, the slowest.
 */
import { parseArgs } from 'node:util';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { startNatsServer } from '../../runtime/mod.js';

const SLOW_MS = 8;

interface Stall {
  start: number;
  end: number;
  writes: number;
  maxMs: number;
}

function options(): { mode: 'cas' | 'plain' | 'last1'; bytes: number; rate: number; seconds: number; subjects: number } {
  const { values } = parseArgs({
    options: {
      mode: { type: 'string', default: 'cas' },
      bytes: { type: 'string', default: '600' },
      rate: { type: 'string', default: '1000' },
      seconds: { type: 'string', default: '10' },
      subjects: { type: 'string', default: '1000' },
    },
  });
  const mode = values.mode;
  if (mode !== 'cas' && mode !== 'plain' && mode !== 'last1') throw new TypeError(`--mode is cas, plain or last1; got ${String(mode)}`);
  const num = (name: string, v: string | undefined): number => {
    const n = Number(v);
    if (!Number.isSafeInteger(n) || n < 1) throw new TypeError(`--${name} needs a whole number of at least 1; got ${String(v)}`);
    return n;
  };
  return { mode, bytes: num('bytes', values.bytes), rate: num('rate', values.rate), seconds: num('seconds', values.seconds), subjects: num('subjects', values.subjects) };
}

async function main(): Promise<void> {
  const o = options();
  await using ns = await startNatsServer({});
  const nc = await connect({ servers: ns.url });
  try {
    await (await jetstreamManager(nc)).streams.add({
      name: 'TAIL',
      subjects: ['tail.>'],
      max_bytes: 1024 ** 3,
      ...(o.mode === 'last1' ? { max_msgs_per_subject: 1 } : {}),
    });
    const js = jetstream(nc);
    const payload = new Uint8Array(o.bytes);
    const last = new Map<number, number>();
    const busy = new Set<number>();
    const latencies: number[] = [];
    const slow: [number, number][] = [];
    let sent = 0;
    const t0 = performance.now();
    process.stderr.write(`jetstream-tail: ${o.mode}, ${o.bytes} B, ${o.rate}/s over ${o.subjects} subjects for ${o.seconds} s\n`);
    await new Promise<void>((resolve) => {
      const timer = setInterval(() => {
        const due = Math.floor(((performance.now() - t0) / 1000) * o.rate);
        for (; sent < due; sent++) {
          const s = sent % o.subjects;
          if (busy.has(s)) continue;
          busy.add(s);
          const started = performance.now();
          const opts = o.mode === 'cas' ? { expect: { lastSubjectSequence: last.get(s) ?? 0 } } : {};
          js.publish(`tail.${s}`, payload, opts).then(
            (ack) => {
              last.set(s, ack.seq);
              const ms = performance.now() - started;
              latencies.push(ms);
              if (ms > SLOW_MS) slow.push([started - t0, ms]);
              busy.delete(s);
            },
            (err: unknown) => {
              process.stderr.write(`write failed: ${String(err)}\n`);
              busy.delete(s);
            },
          );
        }
        if (performance.now() - t0 > o.seconds * 1000) {
          clearInterval(timer);
          setTimeout(resolve, 1000);
        }
      }, 2);
    });
    latencies.sort((a, b) => a - b);
    const q = (p: number): string => (latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * p))] ?? 0).toFixed(2);
    const stalls: Stall[] = [];
    for (const [start, ms] of slow) {
      const s = stalls.at(-1);
      if (s !== undefined && start - s.end < 20) {
        s.end = Math.max(s.end, start + ms);
        s.writes++;
        s.maxMs = Math.max(s.maxMs, ms);
      } else stalls.push({ start, end: start + ms, writes: 1, maxMs: ms });
    }
    console.log(`${o.mode} ${o.bytes} B at ${o.rate}/s: ${latencies.length} writes, p50 ${q(0.5)} ms, p90 ${q(0.9)} ms, p99 ${q(0.99)} ms, max ${q(1)} ms`);
    console.log(`stalls (writes over ${SLOW_MS} ms, grouped): ${stalls.map((s) => `${(s.start / 1000).toFixed(1)}s ${s.writes} writes max ${s.maxMs.toFixed(0)} ms`).join('; ') || 'none'}`);
  } finally {
    await nc.close();
  }
}

main().catch((err: unknown) => {
  console.error(`jetstream-tail: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
