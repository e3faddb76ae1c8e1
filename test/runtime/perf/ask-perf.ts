/**
 * Measures remote ask against a raw correlation-id RPC over nats.js, and local tell against bare
 * XState send. Not part of the test suite (the project's `npm run bench` owns the targets); run:
 *
 *   npx tsc -p tsconfig.json && node dist/test/runtime/perf/ask-perf.js
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { connect } from '@nats-io/transport-node';
import { assign, createActor, setup } from 'xstate';
import { pino } from 'pino';
import { decode, encode } from '../../../protocol/mod.js';
import { startNatsServer } from '../../../runtime/nats-launcher.js';
import { defineActor, startNode, reply, type ActorMessage } from '../../../runtime/mod.js';
import { nodeProcess } from '../kit.js';

const mode = process.argv[2];

if (mode === 'responder') {
  // Raw correlation-id RPC server: one subscription, answers {value, node} to the reply subject.
  const nc = await connect({ servers: process.argv[3]! });
  nc.subscribe('raw.svc', {
    callback: (_e, m) => {
      const req = decode(m.data) as { value: number };
      if (m.reply) nc.publish(m.reply, encode({ value: req.value, node: 'raw' }));
    },
  });
  await nc.flush();
  process.stdout.write('ready raw\n');
} else {
  const ns = await startNatsServer();
  const seconds = Number(process.env['SECONDS'] ?? 3);
  try {
    const results: Record<string, number> = {};

    // --- raw correlation-id RPC
    const child = spawn(process.execPath, [fileURLToPath(import.meta.url), 'responder', ns.url], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((res) => child.stdout!.on('data', (d: Buffer) => d.toString().includes('ready') && res()));
    const nc = await connect({ servers: ns.url });
    const pending = new Map<number, (v: unknown) => void>();
    nc.subscribe('raw.inbox.*', {
      callback: (_e, m) => {
        const corr = Number(m.subject.slice(10));
        const r = pending.get(corr);
        if (r) {
          pending.delete(corr);
          r(decode(m.data));
        }
      },
    });
    let corr = 0;
    const rawAsk = (i: number): Promise<unknown> =>
      new Promise((res) => {
        const c = ++corr;
        pending.set(c, res);
        nc.publish('raw.svc', encode({ type: 'echo', value: i }), { reply: `raw.inbox.${c}` });
      });

    const t = await startNode({ nats: ns.url, nodeId: 'perf-t', logger: pino({ level: 'error' }) });
    await using p = await nodeProcess(ns.url, 'perf-r', { KINDS: 'echo' });
    await new Promise((r) => setTimeout(r, 500));
    const ref = { kind: 'echo', id: 'bench' };
    const runtimeAsk = (i: number): Promise<unknown> => t.ask(ref, { type: 'echo', value: i });

    const ticks = (pid: number): number => {
      const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
      return (Number(f[11]) + Number(f[12])) * 10_000; // clock ticks (100/s) to microseconds
    };
    const measure = async (name: string, fn: (i: number) => Promise<unknown>, inflight: number, responderPid: number): Promise<void> => {
      for (let i = 0; i < 2000; i++) await fn(i); // warm-up
      let done = 0;
      const lat: number[] = [];
      const end = performance.now() + seconds * 1000;
      const worker = async (): Promise<void> => {
        while (performance.now() < end) {
          const s = performance.now();
          await fn(done);
          if (inflight === 1) lat.push(performance.now() - s);
          done++;
        }
      };
      const s = performance.now();
      const cpu0 = process.cpuUsage();
      const r0 = ticks(responderPid);
      await Promise.all(Array.from({ length: inflight }, worker));
      const rate = (done / (performance.now() - s)) * 1000;
      const cpu = process.cpuUsage(cpu0);
      const askerUs = (cpu.user + cpu.system) / done;
      const responderUs = (ticks(responderPid) - r0) / done;
      results[name] = Math.round(rate);
      lat.sort((a, b) => a - b);
      const pct = inflight === 1 ? ` p50 ${lat[Math.floor(lat.length * 0.5)]!.toFixed(3)} ms p99 ${lat[Math.floor(lat.length * 0.99)]!.toFixed(3)} ms` : '';
      console.log(`${name.padEnd(28)} ${Math.round(rate).toString().padStart(8)}/s  cpu/op asker ${askerUs.toFixed(1)} us, responder ${responderUs.toFixed(1)} us${pct}`);
    };
    for (const round of [1, 2]) {
      console.log(`round ${round}`);
      await measure('raw corr-id RPC x64', rawAsk, 64, child.pid!);
      await measure('runtime ask x64', runtimeAsk, 64, p.proc.pid!);
      await measure('raw corr-id RPC x1', rawAsk, 1, child.pid!);
      await measure('runtime ask x1', runtimeAsk, 1, p.proc.pid!);
    }

    // --- local tell vs bare XState send
    const machine = setup({ types: { context: {} as { n: number }, events: {} as ActorMessage } }).createMachine({
      context: { n: 0 },
      on: { inc: { actions: assign({ n: ({ context }) => context.n + 1 }) }, get: { actions: ({ context, event }) => reply(event, context.n) } },
    });
    const N = 1_000_000;
    const bare = createActor(machine).start();
    const local = await startNode({ nats: ns.url, nodeId: 'perf-l', kinds: [defineActor({ kind: 'cnt', machine, options: { placement: 'explicit' } })], logger: pino({ level: 'error' }) });
    const lref = await local.spawn('cnt', 'x');
    for (const round of [1, 2]) {
      let s = performance.now();
      for (let i = 0; i < N; i++) bare.send({ type: 'inc' });
      const xs = (N / (performance.now() - s)) * 1000;
      s = performance.now();
      for (let i = 0; i < N; i++) local.tell(lref, { type: 'inc' });
      const lt = (N / (performance.now() - s)) * 1000;
      console.log(`round ${round}: xstate send ${Math.round(xs)}/s, local tell ${Math.round(lt)}/s, ratio ${(lt / xs).toFixed(2)}`);
    }
    console.log('local count', await local.ask(lref, { type: 'get' }), 'xstate count', bare.getSnapshot().context.n);
    await local.close();
    await t.close();
    await nc.close();
    child.kill();
  } finally {
    await ns[Symbol.asyncDispose]();
  }
  process.exit(0);
}
