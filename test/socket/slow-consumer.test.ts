import { describe, expect, it } from 'vitest';
import { natsServer } from '../kit/nats.js';
import { encode } from '../../protocol/mod.js';
import { connectionId, pushSubjects } from '../../protocol/cluster/mod.js';
import { CloseCode } from '../../gateway/socket/mod.js';
import { connect } from '@nats-io/transport-node';
import { childSocketNode } from './child.js';
import { closeAll, socketNode, until, type TestClient } from './kit.js';

describe('socket - backpressure', () => {
  it('socket - a client that stops reading is disconnected and the others carry on', async () => {
    await using ns = await natsServer();
    const limit = 256 * 1024;
    await using sn = await socketNode(ns.url, { server: { limits: { maxBackpressureBytes: limit } } });
    const slow = await sn.client('alice', 'laptop');
    const fine = await sn.client('alice', 'phone');
    try {
      slow.pause();
      const pad = 'x'.repeat(32 * 1024);
      const subject = pushSubjects.connection('sm', connectionId('alice', 'laptop'));
      // Far more than the kernel's socket buffers and the limit together.
      for (let i = 0; i < 600 && sn.server.stats().slowConsumers === 0; i++) {
        sn.nc.publish(subject, encode({ userId: 'alice', frame: { t: 'sync', collection: 'big', rev: i, pad } }));
        if (i % 50 === 49) await sn.nc.flush();
      }
      await until(() => sn.server.stats().slowConsumers === 1 && sn.server.stats().connections === 1, 'the slow client disconnected');

      // The other connection of the same user is served as before.
      expect(await fine.request({ t: 'pull', id: 1, collection: 'c', since: 0 })).toMatchObject({ t: 'changes', id: 1 });
      sn.nc.publish(pushSubjects.connection('sm', connectionId('alice', 'phone')), encode({ userId: 'alice', frame: { t: 'sync', collection: 'small', rev: 1 } }));
      await fine.take((f) => f['collection'] === 'small');

      // Once it reads again it learns why it was closed.
      slow.resume();
      expect((await slow.closed).code).toBe(CloseCode.slowConsumer);
      expect(slow.ofType('sync').length).toBeLessThan(600);
    } finally {
      await closeAll([slow, fine]);
    }
  });
});

/** The p-th percentile of `xs` (nearest rank). */
function percentile(xs: readonly number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))] ?? NaN;
}

describe('socket - slow consumer (R5)', () => {
  it('socket - a client that stops reading keeps the node memory bounded, is disconnected, and the other clients p99 stays put', async () => {
    await using ns = await natsServer();
    await using node = await childSocketNode(ns.url, { gc: true, store: false });
    const nc = await connect({ servers: ns.url });
    const others: TestClient[] = [];
    let slow: TestClient | undefined;
    try {
      for (let i = 0; i < 20; i++) others.push(await node.client(`r5-user-${i}`, 'phone'));
      slow = await node.client('r5-slow', 'laptop');
      const subjects = others.map((_, i) => pushSubjects.connection('sm', connectionId(`r5-user-${i}`, 'phone')));
      const slowSubject = pushSubjects.connection('sm', connectionId('r5-slow', 'laptop'));
      const pad = 'x'.repeat(32 * 1024);
      let seq = 0;

      /** Pushes to the other clients, one every 5 ms, for `ms`; on each tick `extra` runs too. Returns their latencies. */
      const measure = async (ms: number, extra: () => void): Promise<number[]> => {
        const first = seq;
        const end = Date.now() + ms;
        while (Date.now() < end) {
          const i = seq++ % subjects.length;
          nc.publish(subjects[i]!, encode({ userId: `r5-user-${i}`, frame: { t: 'sync', collection: 'lat', rev: seq, sentAt: Date.now() } }));
          extra();
          // Pacing the offered load, not waiting for a condition.
          await new Promise((r) => setTimeout(r, 5));
        }
        const last = seq;
        await until(() => others.reduce((n, c) => n + c.ofType('sync').filter((f) => Number(f['rev']) > first && Number(f['rev']) <= last).length, 0) === last - first, 'every measured push delivered');
        const out: number[] = [];
        for (const c of others) {
          c.frames.forEach((f, k) => {
            const rev = Number(f['rev']);
            if (f['t'] === 'sync' && rev > first && rev <= last) out.push(c.receivedAt[k]! - Number(f['sentAt']));
          });
        }
        return out;
      };

      const before = await node.stats();
      const baseline = await measure(2_000, () => undefined);

      slow.pause();
      let flooded = 0;
      let cut = false;
      const started = Date.now();
      let cutAfterMs = 0;
      const poll = setInterval(() => {
        void node.stats(false).then((s) => {
          if (s.stats.slowConsumers === 1 && !cut) {
            cut = true;
            cutAfterMs = Date.now() - started;
          }
        });
      }, 100);
      let during: number[];
      try {
        during = await measure(2_500, () => {
          // The slow client is sent 32 KB per tick (about 6 MB/s) until the node cuts it.
          if (!cut) nc.publish(slowSubject, encode({ userId: 'r5-slow', frame: { t: 'sync', collection: 'big', rev: flooded++, pad } }));
        });
        // Keep sending it pushes until the node cuts it (on a busy machine it may take longer than the window).
        const deadline = Date.now() + 30_000;
        while (!cut) {
          if (Date.now() > deadline) throw new Error(`the slow client was not disconnected after ${flooded} pushes of 32 KB`);
          nc.publish(slowSubject, encode({ userId: 'r5-slow', frame: { t: 'sync', collection: 'big', rev: flooded++, pad } }));
          // Pacing the offered load, not waiting for a condition.
          await new Promise((r) => setTimeout(r, 5));
        }
      } finally {
        clearInterval(poll);
      }
      slow.resume();
      expect((await slow.closed).code).toBe(CloseCode.slowConsumer);
      // Memory once the cut connection is gone (its buffer freed): what the node kept is what was bounded.
      const after = await node.stats();
      for (const c of others) expect(c.isOpen).toBe(true);

      const p = (xs: number[], q: number): number => percentile(xs, q);
      const grew = (after.memory.heapUsed + after.memory.external - before.memory.heapUsed - before.memory.external) / 1024 / 1024;
      const rssGrew = (after.memory.rss - before.memory.rss) / 1024 / 1024;
      console.info(
        `R5: other clients' push latency without a slow client p50 ${p(baseline, 50)} ms p99 ${p(baseline, 99)} ms (n=${baseline.length}); ` +
          `with one sent ${((flooded * 32) / 1024).toFixed(1)} MB and cut after ${cutAfterMs} ms p50 ${p(during, 50)} ms p99 ${p(during, 99)} ms (n=${during.length}); ` +
          `buffered for it at the cut ${(after.stats.slowConsumerBufferedMax / 1024).toFixed(0)} KB (limit 1024 KB); node heap+external grew ${grew.toFixed(1)} MB, RSS ${rssGrew.toFixed(1)} MB`,
      );
      // Bounded: far less than what was sent to the slow client (the 1 MiB limit plus buffers in flight).
      expect(flooded * 32 * 1024, 'more was sent to the slow client than the node may buffer for it').toBeGreaterThan(2 * 1024 * 1024);
      expect(after.stats.slowConsumerBufferedMax, 'what the node held for it when it cut it').toBeLessThanOrEqual(1024 * 1024 + 64 * 1024);
      expect(grew, 'the node kept nothing of it once cut').toBeLessThan(16);
      // Unchanged, with a bound generous enough for a loaded 2-core machine shared with other test runs
      // (the flood itself costs CPU in this process, nats-server and the node until the cut).
      expect(p(during, 99)).toBeLessThanOrEqual(Math.max(4 * p(baseline, 99), p(baseline, 99) + 75));
    } finally {
      await closeAll([...others, ...(slow ? [slow] : [])]);
      await nc.close();
    }
  });
});
