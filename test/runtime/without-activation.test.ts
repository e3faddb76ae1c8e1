/**
 * ActorKindOptions.withoutActivation: a virtual kind answers some messages without activating the
 * actor (no lease, no XState actor), passes others on, and is not consulted while the actor is active.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { assign, setup } from 'xstate';
import { Kvm } from '@nats-io/kv';
import { natsServer } from '../kit/nats.js';
import { defineActor, reply, RuntimeConfigError, type ActorInput, type ActorMessage, type ActorNode, type InactiveActor } from '../../runtime/mod.js';
import { testNode } from './kit.js';

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c().catch(() => undefined);
});

/** The store's pattern: `peek` is answered from "durable state" (here: a map) unless it names something to do. */
const durable = new Map<string, number>();
const offered: string[] = [];

function handler(message: ActorMessage, actor: InactiveActor): boolean {
  offered.push(`${actor.id}:${message.type}`);
  if (message.type === 'boom') throw new Error('a handler bug');
  if (message.type !== 'peek') return false;
  const value = durable.get(actor.id);
  // Read "later" (as a JetStream read would be), then answer or pass on.
  setTimeout(() => (value === undefined ? actor.activate() : reply(message, { from: 'durable', value })), 5);
  return true;
}

const reader = defineActor({
  kind: 'reader',
  machine: setup({
    types: { context: {} as { id: string; seen: number }, events: {} as { type: string }, input: {} as ActorInput },
    actions: {
      answer: ({ context, event }) => reply(event, { from: 'actor', seen: context.seen + 1 }),
    },
  }).createMachine({
    context: ({ input }) => ({ id: input.id, seen: 0 }),
    on: {
      '*': { actions: ['answer', assign({ seen: ({ context }) => context.seen + 1 })] },
    },
  }),
  options: { placement: 'virtual', withoutActivation: handler },
});

type Answer = { from: string; value?: number; seen?: number };

async function leases(n: ActorNode): Promise<string[]> {
  const kv = await new Kvm(n.nats).open('sm_leases');
  const keys: string[] = [];
  for await (const k of await kv.keys()) keys.push(k);
  return keys;
}

describe('runtime - answers without an activation', () => {
  it('without activation - a taken message is answered with no lease and no actor; one passed on activates the actor, which then gets every message', async () => {
    const ns = await natsServer();
    cleanup.push(() => ns[Symbol.asyncDispose]());
    const n = await testNode(ns.url, 'a', [reader]);
    cleanup.push(() => n.close());
    durable.set('u1', 42);
    offered.length = 0;

    // Answered by the handler: nothing activated, nothing leased.
    expect(await n.ask<Answer>({ kind: 'reader', id: 'u1' }, { type: 'peek' })).toEqual({ from: 'durable', value: 42 });
    expect(await n.ask<Answer>({ kind: 'reader', id: 'u1' }, { type: 'peek' })).toEqual({ from: 'durable', value: 42 });
    let m = n.metrics();
    expect([m.activations, m.answeredInactive, m.actorsByKind['reader']?.active ?? 0]).toEqual([0, 2, 0]);
    expect(await leases(n)).toEqual([]);

    // Passed on later (nothing stored for u2): the actor is activated with it and answers.
    expect(await n.ask<Answer>({ kind: 'reader', id: 'u2' }, { type: 'peek' })).toEqual({ from: 'actor', seen: 1 });
    m = n.metrics();
    expect([m.activations, m.answeredInactive]).toEqual([1, 2]);
    expect((await leases(n)).length).toBe(1);

    // Not taken (another type): activated at once. And a handler that throws: the actor gets it.
    expect(await n.ask<Answer>({ kind: 'reader', id: 'u3' }, { type: 'write' })).toEqual({ from: 'actor', seen: 1 });
    expect(await n.ask<Answer>({ kind: 'reader', id: 'u4' }, { type: 'boom' })).toEqual({ from: 'actor', seen: 1 });

    // While an actor is active the handler is not asked: u3 is active now, its peeks go to the actor.
    durable.set('u3', 7);
    offered.length = 0;
    expect(await n.ask<Answer>({ kind: 'reader', id: 'u3' }, { type: 'peek' })).toEqual({ from: 'actor', seen: 2 });
    expect(offered).toEqual([]);
    expect(n.metrics().activations).toBe(3);
  });

  it('without activation - refused on an explicit kind, and must be a function', () => {
    const machine = setup({}).createMachine({});
    expect(() => defineActor({ kind: 'x', machine, options: { placement: 'explicit', withoutActivation: () => false } })).toThrow(RuntimeConfigError);
    expect(() => defineActor({ kind: 'x', machine, options: { withoutActivation: 1 as unknown as () => boolean } })).toThrow(/must be a function/);
  });
});
