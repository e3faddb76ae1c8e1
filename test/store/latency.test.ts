/**
 * Latency of the storage, measured and printed (the figures in actors/store/README.md come from
 * here): commit and pull one at a time on one nats-server, directly on the CloudStore and through
 * the store actor from another node. Other users' records fill the stream first, so pulls scan a
 * shared stream as they would in service. Only sanity bounds are asserted: shared 2-core machines
 * make absolute times drift, the printed figures are the measurement.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { connectionId } from '../../actors/identity.js';
import type { CommitRequest } from '../../actors/messages.js';
import { pushKind } from '../../actors/push/mod.js';
import { storeKind, STORE_KIND } from '../../actors/store/mod.js';
import { startNode, type ActorNode } from '../../runtime/mod.js';
import { eventually, storeEnv, type StoreEnv } from './kit.js';

let env: StoreEnv;

beforeAll(async () => {
  env = await storeEnv();
  // 20k records of 200 users, so reads run against a stream holding many users' data.
  const filler = 'x'.repeat(150);
  for (let batch = 0; batch < 40; batch++) {
    await Promise.all(
      Array.from({ length: 5 }, (_, u) =>
        env.store.commit({ userId: `filler-${batch * 5 + u}`, collection: 'c', changes: Array.from({ length: 100 }, (_, k) => ({ key: `k${k}`, value: filler })) }),
      ),
    );
  }
});

afterAll(async () => {
  await env?.[Symbol.asyncDispose]();
});

function summary(samples: number[]): { p50: number; p99: number; max: number } {
  const s = [...samples].sort((a, b) => a - b);
  const at = (q: number): number => Number(s[Math.min(s.length - 1, Math.floor(q * s.length))]!.toFixed(3));
  return { p50: at(0.5), p99: at(0.99), max: at(1) };
}

/** Times `run` n times after a warm-up; a run that resolves with a number reports its own time. */
async function measure(n: number, run: (i: number) => Promise<unknown>): Promise<{ p50: number; p99: number; max: number }> {
  for (let i = 0; i < 20; i++) await run(1_000_000 + i); // warm-up
  const samples: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    const own = await run(i);
    samples.push(typeof own === 'number' ? own : performance.now() - t);
  }
  return summary(samples);
}

describe('store - latency', () => {
  it('store - commit and pull latency, one request at a time (printed)', async () => {
    const { store } = env;
    const value = { url: 'https://example.org/some/page', title: 'a bookmark', at: 1_700_000_000_000 };
    const commit = await measure(1000, (i) => store.commit({ userId: 'measured', collection: 'bookmarks', changes: [{ key: `k${i % 20}`, value }] }));
    const commitBase = await measure(500, async (i) => {
      const r = await store.commit({ userId: 'measured-base', collection: 'c', changes: [{ key: `b${i}`, value, base: 0 }] });
      expect(r.conflicts).toEqual([]);
    });
    // The pull a device makes after a `sync`: one changed key since its cursor, in a 20-key collection.
    let cursor = (await store.pull({ userId: 'measured', collection: 'bookmarks', since: 0 })).rev;
    const pullOne = await measure(500, async (i) => {
      await store.commit({ userId: 'measured', collection: 'bookmarks', changes: [{ key: `k${i % 20}`, value }] });
      const t = performance.now();
      const r = await store.pull({ userId: 'measured', collection: 'bookmarks', since: cursor });
      const spent = performance.now() - t;
      expect(r.changes).toHaveLength(1);
      cursor = r.rev;
      return spent;
    });
    const pullNone = await measure(1000, () => store.pull({ userId: 'measured', collection: 'bookmarks', since: cursor }));
    const pullAll = await measure(100, async () => {
      const r = await store.pull({ userId: 'measured', collection: 'bookmarks', since: 0 });
      expect(r.changes).toHaveLength(20);
    });
    console.info('store latency (ms, one in flight, 20k records of 200 other users in the stream)');
    console.info(`  commit, 1 change, unconditional     ${JSON.stringify(commit)}`);
    console.info(`  commit, 1 change, base 0            ${JSON.stringify(commitBase)}`);
    console.info(`  pull of 1 changed key (after sync)  ${JSON.stringify(pullOne)}`);
    console.info(`  pull, nothing changed               ${JSON.stringify(pullNone)}`);
    console.info(`  pull since 0, 20-key collection     ${JSON.stringify(pullAll)}`);
    for (const m of [commit, commitBase, pullOne, pullNone, pullAll]) expect(m.p50).toBeLessThan(250);
  });

  it('store - commit latency through the store actor, asked from another node (printed)', async () => {
    const logger = pino({ level: 'error' });
    const timing = { heartbeatMs: 150, downAfterMs: 1_500, logger };
    let storage: ActorNode | undefined;
    let caller: ActorNode | undefined;
    try {
      storage = await startNode({ nats: env.ns.url, nodeId: 'lat-storage', kinds: [storeKind(env.store), pushKind()], ...timing });
      caller = await startNode({ nats: env.ns.url, nodeId: 'lat-caller', kinds: [], ...timing });
      const c = caller;
      await eventually('the storage member', () => (c.members().some((m) => m.kinds.includes(STORE_KIND)) ? true : undefined));
      const request = (i: number): CommitRequest => ({
        type: 'commit',
        userId: `actor-user-${i & 7}`,
        deviceId: 'd',
        connectionId: connectionId(`actor-user-${i & 7}`, 'd'),
        collection: 'c',
        changes: [{ key: `k${i % 10}`, value: i }],
      });
      const viaActor = await measure(1000, (i) => c.ask({ kind: STORE_KIND, id: request(i).userId }, request(i), { timeoutMs: 15_000 }));
      const pullViaActor = await measure(200, (i) => c.ask({ kind: STORE_KIND, id: `actor-user-${i & 7}` }, { type: 'pull', userId: `actor-user-${i & 7}`, collection: 'c', since: 0 }, { timeoutMs: 15_000 }));
      console.info(`  commit via store actor (remote ask) ${JSON.stringify(viaActor)}`);
      console.info(`  pull 10 keys via store actor        ${JSON.stringify(pullViaActor)}`);
      expect(viaActor.p50).toBeLessThan(250);
    } finally {
      await caller?.close();
      await storage?.close();
    }
  });
});
