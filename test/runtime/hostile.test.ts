/**
 * A node process under hostile input on its NATS subjects, and local-only kinds (remoteSpawn:
 * false) refused over NATS. One node process (compiled fixture) and in-process nodes on a real
 * nats-server; a raw NATS connection plays the hostile peer.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setup } from 'xstate';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { natsServer, type NatsServer } from '../kit/nats.js';
import { seededRng } from '../kit/hostile-frames.js';
import { decodeMany } from '../../protocol/mod.js';
import { defineActor, RuntimeConfigError, SpawnRefusedError, type ActorNode, type ActorRef, type RuntimeMetrics } from '../../runtime/mod.js';
import { localOnly } from './fixtures/kinds.js';
import { cat, goodAsk, hostileEnvelope, HOSTILE_KINDS, SPY, type HostileEnvelope } from './hostile-envelopes.js';
import { nodeProcess, testNode, waitFor, type NodeProcess } from './kit.js';

const SEED = 20261129;
const FRAMES = 12_000;

let ns: NatsServer;
let p: NodeProcess;
let t: ActorNode & AsyncDisposable;
let nc: NatsConnection;
let probe: ActorRef;

beforeAll(async () => {
  ns = await natsServer();
  // Generous failure detection: a flood on a loaded 2-core machine may delay heartbeats; this test
  // is about answers and survival, not about being seen down.
  p = await nodeProcess(ns.url, 'hp', { DOWN_AFTER_MS: '10000' });
  t = await testNode(ns.url, 'ht', [], { downAfterMs: 10_000 });
  nc = await connect({ servers: ns.url });
  await waitFor('the test node to see hp', () => t.members().some((m) => m.nodeId === 'hp'));
  probe = await t.spawn('probe', 'probe', { node: 'hp' });
});

afterAll(async () => {
  await nc?.close();
  await t?.close();
  await p?.[Symbol.asyncDispose]();
  await ns?.[Symbol.asyncDispose]();
});

const metricsOfHp = (): Promise<RuntimeMetrics> => t.ask<RuntimeMetrics>(probe, { type: 'metrics' });

describe('runtime under hostile input', () => {
  it('remote spawn - a local-only kind is refused over NATS with SpawnRefusedError; its own node spawns it', async () => {
    const before = await metricsOfHp();
    const refused = await t.spawn('local-only', 's1', { node: 'hp' }).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(refused).toBeInstanceOf(SpawnRefusedError);
    expect((refused as SpawnRefusedError).code).toBe('spawn_refused');
    expect((refused as Error).message).toMatch(/local-only \(remoteSpawn: false\)/);
    expect((await metricsOfHp()).spawnsRefused - before.spawnsRefused).toBe(1);

    // Nothing started on hp: an ask to the would-be actor finds no actor.
    await expect(t.ask({ kind: 'local-only', id: 's1', node: 'hp' }, { type: 'ping' })).rejects.toMatchObject({ code: 'no_such_actor' });
    // Its own node may spawn it (here from an actor on hp), and other nodes may talk to it.
    const ref = await t.ask<ActorRef>(probe, { type: 'spawn', kind: 'local-only', id: 's1' });
    expect(ref).toEqual({ kind: 'local-only', id: 's1', node: 'hp' });
    expect(await t.ask(ref, { type: 'ping' })).toBe('pong');

    // A caller that hosts the kind itself knows it is local-only: refused without asking hp.
    await using t2 = await testNode(ns.url, 'ht2', [localOnly]);
    await expect(t2.spawn('local-only', 's2', { node: 'hp' })).rejects.toBeInstanceOf(SpawnRefusedError);
    expect((await t2.spawn('local-only', 's2')).node).toBe('ht2');
    expect((await metricsOfHp()).spawnsRefused - before.spawnsRefused).toBe(1);

    // remoteSpawn: false means nothing for a virtual kind (started by messages): refused at definition.
    expect(() => defineActor({ kind: 'v', machine: setup({}).createMachine({}), options: { remoteSpawn: false } })).toThrow(RuntimeConfigError);
  });

  it(`hostile envelopes - ${FRAMES} malformed and forged frames: no crash, each with a reply address answered with its code, all counted, asks served throughout`, async () => {
    const flaky = await t.spawn('flaky', 'steady', { node: 'hp' });
    const replies = new Map<number, unknown[]>();
    const unexpected: unknown[] = [];
    const spy = nc.subscribe(`sm.reply.${SPY}`, {
      callback: (_err, m) => {
        for (const r of decodeMany(m.data)) {
          const corr = Array.isArray(r) ? r[0] : undefined;
          if (typeof corr === 'number') replies.set(corr, r as unknown[]);
          else unexpected.push(r);
        }
      },
    });
    await nc.flush();
    const before = await metricsOfHp();

    // Normal asks from another node, one after another, the whole time.
    let stop = false;
    let served = 0;
    const failures: unknown[] = [];
    const steady = (async () => {
      while (!stop) {
        const got = await t.ask(flaky, { type: 'ping' }, { timeoutMs: 20_000 }).catch((err: unknown) => err);
        if (got === 'pong') served++;
        else failures.push(got);
      }
    })();

    const rng = seededRng(SEED);
    const subject = { node: 'sm.node.hp', reply: 'sm.reply.hp', hb: 'sm.node.hb' } as const;
    const expected = new Map<number, string>();
    const sent: HostileEnvelope[] = [];
    const whatOf = new Map<number, string>();
    let corr = 0;
    for (let i = 0; i < FRAMES; i++) {
      // Every kind at least once, then at random.
      const h = hostileEnvelope(rng, ++corr, i < HOSTILE_KINDS.length ? HOSTILE_KINDS[i] : undefined);
      sent.push(h);
      if (h.expect) expected.set(h.expect.corr, h.expect.code);
      if (h.expect) whatOf.set(h.expect.corr, h.what);
      if (i % 25 === 0 && h.expect) {
        // A hostile frame between two good asks in one NATS message costs that frame only.
        const a = ++corr;
        const b = ++corr;
        expected.set(a, 'ok').set(b, 'ok');
        nc.publish(subject.node, cat(goodAsk('flaky', 'steady', true, { type: 'ping' }, a), h.data, goodAsk('flaky', 'steady', true, { type: 'ping' }, b)));
      } else {
        nc.publish(subject[h.subject], h.data);
      }
      if (i % 500 === 499) await nc.flush();
      // Paced, not throttled: hp has handled everything sent so far once this ask (queued behind it) is answered.
      if (i % 2_000 === 1_999) await t.ask(flaky, { type: 'ping' }, { timeoutMs: 20_000 });
    }
    await nc.flush();

    await waitFor(`answers to ${expected.size} frames with a reply address`, () => replies.size >= expected.size, 60_000);
    stop = true;
    await steady;
    spy.unsubscribe();

    for (const [c, code] of expected) {
      const r = replies.get(c);
      const what = whatOf.get(c) ?? 'good ask';
      if (code === 'ok') expect(r, `good ask ${c}`).toEqual([c, 'pong']);
      else expect(r?.[1], `${what} (corr ${c})`).toBe(code);
    }
    expect([...replies.keys()].filter((c) => !expected.has(c)), 'answers to frames without a reply address').toEqual([]);
    expect(unexpected).toEqual([]);

    const after = await metricsOfHp();
    const sum = (f: (h: HostileEnvelope) => number): number => sent.reduce((n, h) => n + f(h), 0);
    expect(after.badMessages - before.badMessages).toBeGreaterThanOrEqual(sum((h) => h.bad));
    expect(after.spawnsRefused - before.spawnsRefused).toBe(sum((h) => h.spawnRefused));
    // Random bytes on the reply subject may happen to decode as a reply ([int, value]): strays too.
    const stray = after.strayReplies - before.strayReplies;
    expect(stray).toBeGreaterThanOrEqual(sum((h) => h.stray));
    expect(stray).toBeLessThanOrEqual(sum((h) => h.stray + (h.what === 'random bytes' && h.subject === 'reply' ? h.data.length : 0)));
    expect(failures).toEqual([]);
    expect(served).toBeGreaterThan(0);
    // Still serving, still the same process.
    expect(await t.ask(flaky, { type: 'ping' })).toBe('pong');
    expect(p.proc.exitCode).toBeNull();
    expect(p.stderr()).not.toMatch(/uncaught|unhandled|FATAL/i);
  }, 120_000);
});
