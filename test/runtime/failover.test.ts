/**
 * Node death and graceful leave, with node processes: kill -9 and SIGTERM.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Kvm } from '@nats-io/kv';
import { natsServer } from '../kit/nats.js';
import { decode } from '../../protocol/mod.js';
import { actorKey } from '../../runtime/internal.js';
import { NodeDownError, type ActorNode, type ActorRef, type MembershipEvent } from '../../runtime/mod.js';
import { DOWN_AFTER_MS, nodeProcess, testNode, waitFor, type NodeProcess } from './kit.js';

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c().catch(() => undefined);
});

async function cluster(names: string[]): Promise<{ url: string; procs: Map<string, NodeProcess>; t: ActorNode }> {
  const ns = await natsServer();
  cleanup.push(() => ns[Symbol.asyncDispose]());
  const procs = new Map<string, NodeProcess>();
  for (const p of await Promise.all(names.map((n) => nodeProcess(ns.url, n)))) {
    procs.set(p.id, p);
    cleanup.push(() => p[Symbol.asyncDispose]());
  }
  const t = await testNode(ns.url, 't');
  cleanup.push(() => t.close());
  await waitFor('every node to be seen', () => t.members().length === names.length + 1);
  return { url: ns.url, procs, t };
}

type Count = { n: number; node: string };

/** Counters with distinct totals; returns the ids per hosting node once each total is stored in KV. */
async function seedCounters(t: ActorNode, prefix: string, count: number): Promise<Map<string, { id: string; n: number }[]>> {
  const byNode = new Map<string, { id: string; n: number }[]>();
  for (let i = 0; i < count; i++) for (let k = 0; k <= i; k++) t.tell({ kind: 'counter', id: `${prefix}${i}` }, { type: 'inc' });
  const kv = await new Kvm(t.nats).open('sm_snapshots');
  for (let i = 0; i < count; i++) {
    const id = `${prefix}${i}`;
    const g = await t.ask<Count>({ kind: 'counter', id }, { type: 'get' });
    expect(g.n).toBe(i + 1);
    byNode.set(g.node, [...(byNode.get(g.node) ?? []), { id, n: i + 1 }]);
    // Persistence is asynchronous (coalesced): wait until the stored snapshot has the total.
    await waitFor(`snapshot of ${id}`, async () => {
      const e = await kv.get(actorKey('counter', id));
      return e?.operation === 'PUT' && (decode(e.value) as { context: { n: number } }).context.n === i + 1;
    });
  }
  return byNode;
}

describe('node death and leave', () => {
  it('failover - kill -9 brings virtual actors back with their state, fails asks and tells watchers', async () => {
    const { procs, t } = await cluster(['a', 'b', 'c']);
    const byNode = await seedCounters(t, 'k', 24);
    const onC = byNode.get('c') ?? [];
    expect(onC.length).toBeGreaterThan(0);

    const w = await t.spawn('watcher', 'w', { node: 'a' });
    const flaky = await t.spawn('flaky', 'fc', { node: 'c' });
    const watchedCounter: ActorRef = { kind: 'counter', id: onC[0]!.id };
    await t.ask(w, { type: 'watch', target: flaky });
    await t.ask(w, { type: 'watch', target: watchedCounter });

    // An ask in flight to c when it dies fails with NodeDownError on the down event, not at its deadline.
    const started = Date.now();
    const inFlight = t.ask({ kind: 'flaky', id: 'fc', node: 'c' }, { type: 'no-answer' }, { timeoutMs: 30_000 }).catch((e: unknown) => e);
    const downs: MembershipEvent[] = [];
    t.onMembership((e) => e.type === 'down' && downs.push(e));
    await procs.get('c')!.kill9();

    // Every node must see c down before c's actors can be placed elsewhere everywhere.
    const probes = await Promise.all(['a', 'b'].map((n) => t.spawn('watcher', `probe-${n}`, { node: n })));
    for (const p of probes) await waitFor(`${p.node} to see c down`, async () => !(await t.ask<string[]>(p, { type: 'members' })).includes('c'));

    const err = await inFlight;
    expect(err).toBeInstanceOf(NodeDownError);
    expect(Date.now() - started).toBeLessThan(DOWN_AFTER_MS * 6);
    expect(downs).toMatchObject([{ type: 'down', reason: 'timeout', member: { nodeId: 'c' } }]);

    await waitFor('watcher to hear node-down for both targets', async () => {
      const got = await t.ask<{ ref: ActorRef; reason: string }[]>(w, { type: 'terminated' });
      return got.filter((g) => g.reason === 'node-down').length === 2;
    });

    for (const { id, n } of onC) {
      const g = await t.ask<Count>({ kind: 'counter', id }, { type: 'get' });
      expect(g.n).toBe(n);
      expect(['a', 'b']).toContain(g.node);
    }
  });

  it('leave - SIGTERM leaves gracefully: members hear `left`, state moves, watchers are told', async () => {
    const { procs, t } = await cluster(['a', 'd']);
    const byNode = await seedCounters(t, 'm', 12);
    const onD = byNode.get('d') ?? [];
    expect(onD.length).toBeGreaterThan(0);
    const w = await t.spawn('watcher', 'w2', { node: 'a' });
    const watched: ActorRef = { kind: 'counter', id: onD[0]!.id };
    await t.ask(w, { type: 'watch', target: watched });

    expect(t.isLive('d')).toBe(true);
    const left = new Promise<MembershipEvent>((resolve) => t.onMembership((e) => e.type === 'down' && resolve(e)));
    const code = await procs.get('d')!.sigterm();
    expect(code).toBe(0);
    expect(await left).toMatchObject({ type: 'down', reason: 'left', member: { nodeId: 'd' } });
    expect([t.isLive('d'), t.isLive('a'), t.isLive(t.id)]).toEqual([false, true, true]);

    const got = await waitFor('watcher to hear passivated', async () => {
      const g = await t.ask<{ ref: ActorRef; reason: string }[]>(w, { type: 'terminated' });
      return g.length > 0 ? g : undefined;
    });
    expect(got).toEqual([{ ref: watched, reason: 'passivated' }]);
    for (const { id, n } of onD) expect(await t.ask<Count>({ kind: 'counter', id }, { type: 'get' })).toEqual(expect.objectContaining({ n, node: 'a' }));
  });
});
