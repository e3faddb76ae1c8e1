/**
 * The runtime across three node processes (compiled fixture), driven from an in-process node.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { natsServer, type NatsServer } from '../kit/nats.js';
import { decode, decodeMany, encode } from '../../protocol/mod.js';
import { tellBytes } from '../../runtime/internal.js';
import {
  AskTimeoutError,
  NodeDownError,
  NoSuchActorError,
  RemoteActorError,
  type ActorNode,
  type ActorRef,
} from '../../runtime/mod.js';
import { ACTIVATIONS_SUBJECT } from './fixtures/kinds.js';
import { nodeProcess, testNode, waitFor, type NodeProcess } from './kit.js';

let ns: NatsServer;
let procs: NodeProcess[] = [];
let t: ActorNode & AsyncDisposable;
const ids = ['a', 'b', 'c'];

beforeAll(async () => {
  ns = await natsServer();
  procs = await Promise.all(ids.map((id, i) => nodeProcess(ns.url, id, { ROLES: `r${i}` })));
  t = await testNode(ns.url, 't');
  await waitFor('every node to be seen', () => t.members().length === 4);
});

afterAll(async () => {
  await t?.close();
  await Promise.all(procs.map((p) => p[Symbol.asyncDispose]()));
  await ns?.[Symbol.asyncDispose]();
});

describe('runtime across node processes', () => {
  it('placement - virtual actors spread over three nodes', async () => {
    const answers = await Promise.all(
      Array.from({ length: 60 }, (_, i) => t.ask<{ value: number; node: string }>({ kind: 'echo', id: `e${i}` }, { type: 'echo', value: i })),
    );
    expect(answers.map((a) => a.value)).toEqual(Array.from({ length: 60 }, (_, i) => i));
    const perNode = new Map<string, number>();
    for (const a of answers) perNode.set(a.node, (perNode.get(a.node) ?? 0) + 1);
    expect([...perNode.keys()].sort()).toEqual(ids);
    for (const n of perNode.values()) expect(n).toBeGreaterThan(5);
  });

  it('ordering - tells then an ask from one sender arrive in order', async () => {
    const counters = Array.from({ length: 6 }, (_, i) => ({ kind: 'counter', id: `order-${i}` }));
    for (let seq = 1; seq <= 300; seq++) for (const c of counters) t.tell(c, { type: 'inc', seq });
    const got = await Promise.all(counters.map((c) => t.ask<{ n: number; seen: number[]; node: string }>(c, { type: 'get' })));
    for (const g of got) {
      expect(g.n).toBe(300);
      expect(g.seen).toEqual(Array.from({ length: 300 }, (_, i) => i + 1));
    }
    expect(new Set(got.map((g) => g.node)).size).toBeGreaterThan(1);
  });

  it('spawn - explicit placement by node and by role', async () => {
    const byNode = await t.spawn('watcher', 'w-node', { node: 'b' });
    expect(byNode).toEqual({ kind: 'watcher', id: 'w-node', node: 'b' });
    const byRole = await t.spawn('watcher', 'w-role', { role: 'r2' });
    expect(byRole.node).toBe('c');
    expect(await t.ask(byNode, { type: 'terminated' })).toEqual([]);
    expect(await t.spawn('watcher', 'w-node', { node: 'b' })).toEqual(byNode); // idempotent
    await expect(t.spawn('watcher', 'x', {})).rejects.toBeInstanceOf(NoSuchActorError); // t hosts no kinds
    await expect(t.spawn('watcher', 'x', { role: 'nobody' })).rejects.toBeInstanceOf(NoSuchActorError);
    await t.stop(byRole);
    await expect(t.ask(byRole, { type: 'terminated' })).rejects.toBeInstanceOf(NoSuchActorError);
  });

  it('single activation - concurrent first messages on every node activate each id once', async () => {
    const activations: string[] = [];
    const sub = t.nats.subscribe(ACTIVATIONS_SUBJECT, {
      callback: (_e, m) => {
        const a = decode(m.data) as { kind: string; id: string };
        if (a.kind === 'counter' && a.id.startsWith('race-')) activations.push(a.id);
      },
    });
    try {
      const raceIds = Array.from({ length: 40 }, (_, i) => `race-${i}`);
      // hops=1: each node takes the message as its own (as if senders' views disagreed) and races for the lease.
      for (const [i, id] of raceIds.entries()) {
        for (let j = 0; j < 3; j++) t.nats.publish(`sm.node.${ids[(i + j) % 3]}`, tellBytes('counter', id, false, { type: 'inc' }, 1));
      }
      for (const id of raceIds) {
        await waitFor(`${id} to count 3`, async () => (await t.ask<{ n: number }>({ kind: 'counter', id }, { type: 'get' })).n === 3);
      }
      await t.nats.flush();
      expect(activations.length).toBe(raceIds.length);
      expect(new Set(activations).size).toBe(raceIds.length);
    } finally {
      sub.unsubscribe();
    }
  });

  it('supervision - a failing actor restarts by policy, then stops and watchers hear `failed`', async () => {
    const flaky = await t.spawn('flaky', 'f1', { node: 'c' });
    const w = await t.spawn('watcher', 'w-sup', { node: 'a' });
    await t.ask(w, { type: 'watch', target: flaky });
    for (let round = 1; round <= 3; round++) {
      await waitFor('flaky to answer', async () => (await t.ask(flaky, { type: 'ping' }, { timeoutMs: 1_000 })) === 'pong');
      const err = await t.ask(flaky, { type: 'boom' }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(RemoteActorError);
      expect((err as RemoteActorError).appCode).toBe('actor_failed');
    }
    await waitFor('watcher to hear failed', async () => {
      const got = await t.ask<{ ref: ActorRef; reason: string }[]>(w, { type: 'terminated' });
      return got.some((g) => g.reason === 'failed' && g.ref.id === 'f1' && g.ref.node === 'c');
    });
    await expect(t.ask(flaky, { type: 'ping' })).rejects.toBeInstanceOf(NoSuchActorError);
  });

  it('errors - asks fail with typed errors', async () => {
    await expect(t.ask({ kind: 'echo', id: 'quiet' }, { type: 'ignore' }, { timeoutMs: 300 })).rejects.toBeInstanceOf(AskTimeoutError);
    const err = await t.ask({ kind: 'echo', id: 'refuser' }, { type: 'fail' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RemoteActorError);
    expect(err).toMatchObject({ appCode: 'nope', message: 'refused on purpose' });
    await expect(t.ask({ kind: 'no-such-kind', id: 'x' }, { type: 'x' })).rejects.toBeInstanceOf(NoSuchActorError);
    await expect(t.ask({ kind: 'flaky', id: 'never-spawned', node: 'a' }, { type: 'ping' })).rejects.toBeInstanceOf(NoSuchActorError);
    await expect(t.ask({ kind: 'echo', id: 'x', node: 'ghost' }, { type: 'echo' })).rejects.toBeInstanceOf(NodeDownError);
  });

  it('hostile input - garbage on node subjects leaves nodes running and gets error replies', async () => {
    const replies = new Map<number, unknown[]>();
    const sub = t.nats.subscribe('sm.reply.hostile', {
      callback: (_e, m) => {
        // A node batches the frames it sends to one subject in one turn: one or more per message.
        for (const r of decodeMany(m.data) as unknown[][]) replies.set(r[0] as number, r);
      },
    });
    try {
      const big = 'k'.repeat(100_000);
      const cases: [number, unknown, string][] = [
        // Envelope layout (runtime/envelope.ts): [op, kind, id, body, replyNode, corr]; op 1 = ask, +8 = explicit actor.
        [1, [1, big, 'id', { type: 'x' }, 'hostile', 1], 'bad_message'], // huge kind
        [2, [1, 'no-such-kind', 'id', { type: 'x' }, 'hostile', 2], 'no_such_actor'],
        [3, [1, 'echo', 'id', 'not a map', 'hostile', 3], 'bad_message'],
        [4, [1, 'echo', 'id', { type: 42 }, 'hostile', 4], 'bad_message'],
        [5, [99, 'echo', 'id', { type: 'x' }, 'hostile', 5], 'bad_message'],
        [6, [1, 'echo', big, { type: 'x' }, 'hostile', 6], 'bad_message'], // huge id
        [7, [9, 'flaky', 'none', { type: 'ping' }, 'hostile', 7], 'no_such_actor'],
      ];
      for (const id of ids) {
        for (let i = 0; i < 300; i++) t.nats.publish(`sm.node.${id}`, Uint8Array.from({ length: 1 + (i % 50) }, (_, j) => (i * 31 + j * 7) & 0xff));
        t.nats.publish(`sm.node.${id}`, encode({ not: 'an array' }));
        t.nats.publish(`sm.node.${id}`, encode([1, 'echo', 'x', { type: 'echo' }, 'bad subject!*', 1]));
        t.nats.publish(`sm.reply.${id}`, Uint8Array.from([0xc1, 0xff, 0x00]));
        t.nats.publish('sm.hb._', Uint8Array.from([0x92, 0x01]));
        t.nats.publish('sm.hb._', encode({ t: 'hb', id: 'evil node id with spaces', roles: [], kinds: [], startedAt: 1 }));
      }
      for (const [corr, env] of cases.slice(0, 7)) t.nats.publish('sm.node.a', encode(env));
      await waitFor('every hostile ask to be answered', () => [1, 2, 3, 4, 5, 6, 7].every((c) => replies.has(c)));
      for (const [corr, , code] of cases.slice(0, 7)) {
        const r = replies.get(corr)!; // error reply: [corr, code, message, appCode?]
        expect(r.length, `case ${corr}`).toBeGreaterThanOrEqual(3);
        expect(r[1], `case ${corr}`).toBe(code);
        expect(typeof r[2]).toBe('string');
      }
      // Every node still answers, and membership was not disturbed.
      for (const id of ids) expect(await t.ask({ kind: 'watcher', id: `alive-${id}`, node: id }, { type: 'terminated' }).catch((e: unknown) => e)).toBeInstanceOf(NoSuchActorError);
      const echoes = await Promise.all(Array.from({ length: 12 }, (_, i) => t.ask<{ node: string }>({ kind: 'echo', id: `after-${i}` }, { type: 'echo' })));
      expect(echoes.length).toBe(12);
      expect(t.members().map((m) => m.nodeId).sort()).toEqual([...ids, 't']);
      for (const p of procs) expect(p.proc.exitCode).toBeNull();
    } finally {
      sub.unsubscribe();
    }
  });
});
