/**
 * The runtime's wire between nodes (runtime/envelope.ts, runtime/outbox.ts, runtime/reply.ts):
 * batching per event loop turn, order, answers given after the handler returned, and malformed
 * frames inside a batch. Two in-process nodes on a real nats-server.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assign, setup } from 'xstate';
import type { Subscription } from '@nats-io/nats-core';
import { natsServer, type NatsServer } from '../kit/nats.js';
import { decodeMany, encode } from '../../protocol/mod.js';
import { askBytes, EXPLICIT, MAX_BATCH_BYTES, Op } from '../../runtime/internal.js';
import { actorContext, defineActor, reply, type ActorMessage, type ActorNode, type ActorRef } from '../../runtime/mod.js';
import { testNode, waitFor } from './kit.js';
import { cat } from '../kit/hostile-frames.js';

/** seq: explicit. Tell `note` {seq} records it; ask `seen` answers the seqs so far; ask `echo` answers its `seq`. */
const seq = defineActor({
  kind: 'seq',
  machine: setup({ types: { context: {} as { seen: number[] }, events: {} as ActorMessage } }).createMachine({
    context: { seen: [] },
    on: {
      note: { actions: assign({ seen: ({ context, event }) => [...context.seen, event['seq'] as number] }) },
      seen: { actions: ({ context, event }) => reply(event, context.seen) },
      echo: { actions: ({ event }) => reply(event, event['seq']) },
    },
  }),
  options: { placement: 'explicit' },
});

/** later: explicit. Ask `hold` is answered only when tell `release` arrives (the event is kept in context). */
const later = defineActor({
  kind: 'later',
  machine: setup({ types: { context: {} as { held: ActorMessage[] }, events: {} as ActorMessage } }).createMachine({
    context: { held: [] },
    on: {
      hold: { actions: assign({ held: ({ context, event }) => [...context.held, event] }) },
      release: {
        actions: [({ context }) => context.held.forEach((e, i) => reply(e, `late-${i}`)), assign({ held: [] })],
      },
    },
  }),
  options: { placement: 'explicit' },
});

/**
 * relay: explicit. Ask `relay` {to} tells and asks the local actor `to` from inside its handler
 * (those run nested, inside this handler), then answers `outer`; the inner answer is kept.
 */
const relay = defineActor({
  kind: 'relay',
  machine: setup({ types: { context: {} as { inner: unknown }, events: {} as ActorMessage } }).createMachine({
    context: { inner: undefined },
    on: {
      relay: {
        actions: ({ event, self }) => {
          const { node } = actorContext(self);
          const to = event['to'] as ActorRef;
          node.tell(to, { type: 'note', seq: 7 });
          void node.ask(to, { type: 'echo', seq: 8 }).then((v) => node.tell(actorContext(self).ref, { type: 'inner', value: v }));
          reply(event, 'outer');
        },
      },
      inner: { actions: assign({ inner: ({ event }) => event['value'] }) },
      inner_value: { actions: ({ context, event }) => reply(event, context.inner) },
    },
  }),
  options: { placement: 'explicit' },
});

let ns: NatsServer;
let a: ActorNode & AsyncDisposable;
let b: ActorNode & AsyncDisposable;

beforeAll(async () => {
  ns = await natsServer();
  a = await testNode(ns.url, 'wa');
  b = await testNode(ns.url, 'wb', [seq, later, relay]);
  await waitFor('node wa to see wb', () => a.members().some((m) => m.nodeId === 'wb'));
});

afterAll(async () => {
  await a?.close();
  await b?.close();
  await ns?.[Symbol.asyncDispose]();
});

/** Counts the NATS messages on `subject` (a spy subscription on the test's own connection). */
function countMessages(node: ActorNode, subject: string): { sub: Subscription; count: () => number } {
  let n = 0;
  const sub = node.nats.subscribe(subject, { callback: () => void n++ });
  return { sub, count: () => n };
}

describe('runtime wire', () => {
  it('wire - tells and asks sent in one turn to one node travel as a few batches and keep their order', async () => {
    const ref = await a.spawn('seq', 'order', { node: 'wb' });
    await b.nats.flush();
    const toB = countMessages(b, 'sm.node.wb');
    const toA = countMessages(b, 'sm.reply.wa');
    await b.nats.flush(); // the spies are registered before anything is sent
    try {
      const n = 400;
      const asks: Promise<unknown>[] = [];
      for (let i = 0; i < n; i++) {
        a.tell(ref, { type: 'note', seq: i });
        asks.push(a.ask(ref, { type: 'echo', seq: i }));
      }
      expect(await Promise.all(asks)).toEqual(Array.from({ length: n }, (_, i) => i));
      expect(await a.ask(ref, { type: 'seen' })).toEqual(Array.from({ length: n }, (_, i) => i));
      await waitFor('the spies to see the batches', () => toB.count() >= 1 && toA.count() >= 1);
      // 801 envelopes sent in one turn: a handful of NATS messages (cut by size), not one each.
      expect(toB.count()).toBeLessThanOrEqual(10);
      // The 401 answers leave wb once per turn of its loop, which works a burst off in 10-ms slices
      // (runtime/time-slices.ts): a few turns more on a loaded machine (13 beside the whole suite), but
      // still a tenth of one message per answer.
      expect(toA.count()).toBeLessThanOrEqual(40);
    } finally {
      toB.sub.unsubscribe();
      toA.sub.unsubscribe();
    }
  });

  it('wire - a batch is cut at MAX_BATCH_BYTES, so large messages never make one oversized NATS message', async () => {
    const ref = await a.spawn('seq', 'big', { node: 'wb' });
    const sizes: number[] = [];
    const sub = b.nats.subscribe('sm.node.wb', { callback: (_e, m) => void sizes.push(m.data.length) });
    await b.nats.flush();
    try {
      const blob = 'z'.repeat(10_000);
      const answers = await Promise.all(Array.from({ length: 40 }, (_, i) => a.ask(ref, { type: 'echo', seq: i, blob })));
      expect(answers).toEqual(Array.from({ length: 40 }, (_, i) => i));
      await waitFor('the spy to see 400 KB', () => sizes.reduce((n, s) => n + s, 0) >= 400_000);
      expect(sizes.length).toBeGreaterThanOrEqual(Math.ceil(400_000 / MAX_BATCH_BYTES));
      for (const s of sizes) expect(s).toBeLessThanOrEqual(MAX_BATCH_BYTES);
    } finally {
      sub.unsubscribe();
    }
  });

  it('wire - an ask answered after its handler returned (from a later event) still reaches the asker', async () => {
    const ref = await a.spawn('later', 'l1', { node: 'wb' });
    const held = [a.ask(ref, { type: 'hold' }), a.ask(ref, { type: 'hold' })];
    // The holds are queued on wb before the release: one sender's messages keep their order.
    a.tell(ref, { type: 'release' });
    expect(await Promise.all(held)).toEqual(['late-0', 'late-1']);
  });

  it('wire - a handler that tells and asks local actors before answering gets every answer right', async () => {
    const target = await a.spawn('seq', 'nested', { node: 'wb' });
    const r = await a.spawn('relay', 'r1', { node: 'wb' });
    expect(await a.ask(r, { type: 'relay', to: target })).toBe('outer');
    await waitFor('the nested ask to be answered', async () => (await a.ask(r, { type: 'inner_value' })) === 8);
    expect(await a.ask(target, { type: 'seen' })).toEqual([7]);
  });

  it('wire - a malformed frame in a batch costs that frame only; a broken tail is counted', async () => {
    await a.spawn('seq', 'frames', { node: 'wb' });
    const replies = new Map<number, unknown[]>();
    const spy = a.nats.subscribe('sm.reply.wspy', {
      callback: (_e, m) => {
        for (const r of decodeMany(m.data) as unknown[][]) replies.set(r[0] as number, r);
      },
    });
    try {
      await a.nats.flush();
      const ask = (corr: number): Uint8Array => askBytes('seq', 'frames', true, { type: 'echo', seq: corr }, 'wspy', corr);
      const bad = encode([Op.ask | EXPLICIT, 'seq', 'frames', 'not a map', 'wspy', 2]);
      const badBefore = b.metrics().badMessages;
      a.nats.publish('sm.node.wb', cat(ask(1), bad, ask(3)));
      a.nats.publish('sm.node.wb', cat(ask(4), Uint8Array.from([0x93, 0x01]))); // a truncated array ends the message
      await waitFor('answers 1-4', () => [1, 2, 3, 4].every((c) => replies.has(c)));
      expect(replies.get(1)).toEqual([1, 1]);
      expect(replies.get(2)?.[1]).toBe('bad_message');
      expect(replies.get(3)).toEqual([3, 3]);
      expect(replies.get(4)).toEqual([4, 4]);
      await waitFor('the bad frame and the broken tail to be counted', () => b.metrics().badMessages - badBefore >= 2);
    } finally {
      spy.unsubscribe();
    }
  });
});
