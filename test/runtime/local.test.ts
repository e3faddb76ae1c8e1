/**
 * One process, real nats-server: mailboxes, passivation, membership, local delivery, self-fencing,
 * and the API's argument checks.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createActor, setup } from 'xstate';
import { Kvm } from '@nats-io/kv';
import { natsServer } from '../kit/nats.js';
import { decode } from '../../protocol/mod.js';
import { actorKey } from '../../runtime/internal.js';
import {
  actorContext,
  defineActor,
  MailboxFullError,
  reply,
  RuntimeConfigError,
  startNode,
  type ActorMessage,
  type ActorNode,
  type ActorRef,
  type MembershipEvent,
} from '../../runtime/mod.js';
import { allKinds, brief, counter, small, smallDropOldest, watcher } from './fixtures/kinds.js';
import { quietLogger, testNode, waitFor } from './kit.js';

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c().catch(() => undefined);
});

async function server(): Promise<Awaited<ReturnType<typeof natsServer>>> {
  const ns = await natsServer();
  cleanup.push(() => ns[Symbol.asyncDispose]());
  return ns;
}

async function node(url: string, id: string, kinds = allKinds): Promise<ActorNode> {
  const n = await testNode(url, id, kinds);
  cleanup.push(() => n.close());
  return n;
}

describe('runtime in one process', () => {
  it('mailbox - reject: asks beyond capacity fail with MailboxFullError while the actor activates', async () => {
    const ns = await server();
    const a = await node(ns.url, 'a', [small, smallDropOldest]);
    const before = a.metrics().mailboxDropped;
    const ref = { kind: 'small', id: 'm1' };
    // Activation waits for the KV lease, so everything sent in this tick queues (capacity 4).
    const asks = Array.from({ length: 10 }, () => a.ask(ref, { type: 'get' }).then((v) => v, (e: unknown) => e));
    const results = await Promise.all(asks);
    expect(results.slice(0, 4)).toEqual([0, 0, 0, 0]);
    for (const r of results.slice(4)) expect(r).toBeInstanceOf(MailboxFullError);
    expect(a.metrics().mailboxDropped - before).toBe(6);
  });

  it('mailbox - drop-oldest: the oldest waiting messages are dropped, the newest kept', async () => {
    const ns = await server();
    const a = await node(ns.url, 'a', [small, smallDropOldest]);
    const ref = { kind: 'small-drop', id: 'm2' };
    // Capacity 4 while activating: 3 asks and 5 tells push the 3 asks and the first tell out.
    const early = Array.from({ length: 3 }, () => a.ask(ref, { type: 'get' }).then((v) => v, (e: unknown) => e));
    for (let i = 0; i < 5; i++) a.tell(ref, { type: 'inc' });
    const last = a.ask(ref, { type: 'get' }); // pushes out one more tell: 3 incs remain before it
    for (const r of await Promise.all(early)) expect(r).toBeInstanceOf(MailboxFullError);
    expect(await last).toBe(3);
    expect(a.metrics().mailboxDropped).toBe(5);
  });

  it('passivation - an idle virtual actor stops, its watchers hear `passivated`, its lease leaves nothing behind, and it comes back', async () => {
    const ns = await server();
    const a = await node(ns.url, 'a', [brief, watcher]);
    const leases = await new Kvm(a.nats).open('sm_leases');
    const w = await a.spawn('watcher', 'w');
    const target: ActorRef = { kind: 'brief', id: 'p1' };
    expect(await a.ask(target, { type: 'ping' })).toBe('a');
    const first = await leases.get(actorKey('brief', 'p1'));
    expect(first?.operation).toBe('PUT');
    const activations = a.metrics().activations;
    await a.ask(w, { type: 'watch', target });
    await waitFor('passivation', async () => {
      const got = await a.ask<{ reason: string }[]>(w, { type: 'terminated' });
      return got.some((g) => g.reason === 'passivated');
    });
    expect(a.metrics().activeActors).toBe(1); // the watcher
    // Released by removing the lease's own message: no entry and no delete marker stay.
    await waitFor('the lease removed', async () => (await leases.get(actorKey('brief', 'p1'))) === null);
    expect((await leases.status()).values).toBe(0);
    expect(await a.ask(target, { type: 'ping' })).toBe('a');
    expect(a.metrics().activations).toBe(activations + 1);
    // The new activation's epoch (its lease's revision) is above the first one's.
    const second = await leases.get(actorKey('brief', 'p1'));
    expect(second!.revision).toBeGreaterThan(first!.revision);
  });

  it('membership - a new node knows the cluster when startNode resolves; announce and close are seen at once', async () => {
    const ns = await server();
    const a = await node(ns.url, 'a', [counter]);
    const b = await node(ns.url, 'b', []);
    const t0 = Date.now();
    const c = await startNode({ nats: ns.url, nodeId: 'c', roles: ['x'], meta: { port: 1 }, logger: quietLogger, heartbeatMs: 5_000, downAfterMs: 15_000 });
    cleanup.push(() => c.close());
    expect(Date.now() - t0).toBeLessThan(2_000);
    expect(c.members().map((m) => m.nodeId).sort()).toEqual(['a', 'b', 'c']);
    expect(c.members().find((m) => m.nodeId === 'a')?.kinds).toEqual(['counter']);
    // c heartbeats every 5 s: what a sees below comes from the hello and the immediate announce.
    await waitFor('a to see c', () => a.members().some((m) => m.nodeId === 'c' && m.roles[0] === 'x'), 2_000);
    const events: MembershipEvent[] = [];
    a.onMembership((e) => events.push(e));
    c.announce({ meta: { port: 2 }, draining: true });
    await waitFor('a to see the update', () => events.some((e) => e.type === 'updated' && e.member.meta['port'] === 2 && e.member.draining), 2_000);
    await c.close();
    await waitFor('a to see c leave', () => events.some((e) => e.type === 'down' && e.reason === 'left' && e.member.nodeId === 'c'), 2_000);
    expect(b.members().map((m) => m.nodeId).sort()).toEqual(['a', 'b']);
  });

  it('local delivery - tell and ask to local actors never touch NATS', async () => {
    const ns = await server();
    const a = await node(ns.url, 'a', [watcher, counter]);
    const ref = await a.spawn('watcher', 'local');
    await a.ask({ kind: 'counter', id: 'here' }, { type: 'get' }); // activated here (only node)
    const out = a.metrics().messagesOut;
    for (let i = 0; i < 1000; i++) a.tell({ kind: 'counter', id: 'here' }, { type: 'inc' });
    expect(await a.ask(ref, { type: 'terminated' })).toEqual([]);
    expect((await a.ask<{ n: number }>({ kind: 'counter', id: 'here' }, { type: 'get' })).n).toBe(1000);
    expect(a.metrics().messagesOut).toBe(out);
  });

  it('self-fencing - a node cut off from NATS stops its virtual actors, and serves them again after reconnecting', async () => {
    const ns = await server();
    const a = await node(ns.url, 'a', [counter]);
    for (let i = 0; i < 5; i++) a.tell({ kind: 'counter', id: 'f' }, { type: 'inc' });
    expect((await a.ask<{ n: number }>({ kind: 'counter', id: 'f' }, { type: 'get' })).n).toBe(5);
    const kv = await new Kvm(a.nats).open('sm_snapshots');
    await waitFor('snapshot written', async () => {
      const e = await kv.get(actorKey('counter', 'f'));
      return e !== null && (decode(e.value) as { context: { n: number } }).context.n === 5;
    });
    await ns.kill9();
    await waitFor('virtual actors stopped', () => a.metrics().activeActors === 0, 10_000);
    await ns.restart();
    const got = await waitFor('counter served again', () => a.ask<{ n: number }>({ kind: 'counter', id: 'f' }, { type: 'get' }, { timeoutMs: 2_000 }), 20_000);
    expect(got.n).toBe(5);
  });

  it('api - replies, actorContext and argument checks', async () => {
    const ns = await server();
    const seen: boolean[] = [];
    const twice = defineActor({
      kind: 'twice',
      machine: setup({ types: { events: {} as ActorMessage } }).createMachine({
        on: {
          q: { actions: ({ event }) => seen.push(reply(event, 1), reply(event, 2)) },
          t: { actions: ({ event }) => seen.push(reply(event, 3)) },
          who: { actions: ({ event, self }) => reply(event, actorContext(self).ref) },
        },
      }),
      options: { placement: 'explicit' },
    });
    const a = await node(ns.url, 'a', [twice]);
    const ref = await a.spawn('twice', 'x');
    expect(await a.ask(ref, { type: 'q' })).toBe(1);
    a.tell(ref, { type: 't' });
    expect(seen).toEqual([true, false, false]);
    expect(await a.ask(ref, { type: 'who' })).toEqual({ kind: 'twice', id: 'x', node: 'a' });
    expect(() => actorContext(createActor(twice.machine))).toThrow(RuntimeConfigError);
    expect(() => defineActor({ kind: 'bad kind!', machine: twice.machine })).toThrow(RuntimeConfigError);
    await expect(startNode({ nats: ns.url, nodeId: 'bad.id' })).rejects.toBeInstanceOf(RuntimeConfigError);
    await expect(startNode({ nats: ns.url, maxPassivationsInFlight: 0 })).rejects.toThrow(/maxPassivationsInFlight \(0\) must be a whole number/);
    await expect(a.spawn('counter', 'x')).rejects.toThrow(/does not host/);
  });
});
