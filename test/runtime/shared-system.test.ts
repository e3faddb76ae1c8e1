/**
 * Every actor a node starts shares one XState actor system (CellHost.actorParent): a root actor would
 * build a system of its own per actor, about 2 KB each (TARGETS P4, a session per connection). This
 * checks that they share it, that stopping an actor removes it from the shared registry (no leak as
 * sessions come and go), and that a failing actor is still restarted by its supervision.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { assign, setup } from 'xstate';

/** An XState actor system, by identity (its type is not exported by xstate's entry point). */
type AnyActorSystem = object;
import { natsServer } from '../kit/nats.js';
import { defineActor, reply, type ActorMessage, type ActorNode, type HibernationCodec } from '../../runtime/mod.js';
import { testNode, waitFor } from './kit.js';

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c().catch(() => undefined);
});

/** The systems the probe actors ran in, and how many actors each system holds registered. */
const systems = new Set<AnyActorSystem>();
const registered = new Map<AnyActorSystem, number>();

/** Counts registrations of `system` from now on (its registry is internal to XState: wrap its hooks). */
function countRegistrations(system: AnyActorSystem): void {
  if (registered.has(system)) return;
  registered.set(system, 0);
  const hooks = system as unknown as { _register: (id: string, a: unknown) => unknown; _unregister: (a: unknown) => unknown };
  const register = hooks._register.bind(system);
  const unregister = hooks._unregister.bind(system);
  hooks._register = (id, a) => {
    registered.set(system, registered.get(system)! + 1);
    return register(id, a);
  };
  hooks._unregister = (a) => {
    registered.set(system, registered.get(system)! - 1);
    return unregister(a);
  };
}

const probe = defineActor({
  kind: 'probe',
  machine: setup({ types: { events: {} as ActorMessage } }).createMachine({
    on: {
      where: { actions: ({ self, event }) => reply(event, systems.add(self.system).size) },
      boom: {
        actions: () => {
          throw new Error('probe failed on purpose');
        },
      },
      ping: { actions: ({ event }) => reply(event, 'pong') },
    },
  }),
  options: { placement: 'explicit', supervision: { maxRestarts: 3, withinMs: 10_000, backoffMs: 10, maxBackoffMs: 50 } },
});

async function node(): Promise<ActorNode> {
  const ns = await natsServer();
  cleanup.push(() => ns[Symbol.asyncDispose]());
  const n = await testNode(ns.url, 'shared', [probe]);
  cleanup.push(() => n.close());
  return n;
}

describe('runtime - one XState system per node', () => {
  it('runtime - actors of a node share one XState system, and a stopped actor leaves its registry', async () => {
    const n = await node();
    const first = await n.spawn('probe', 'p0');
    await n.ask(first, { type: 'where' });
    const system = [...systems][0]!;
    countRegistrations(system);
    const refs = [];
    for (let i = 1; i <= 50; i++) refs.push(await n.spawn('probe', `p${i}`));
    for (const ref of refs) expect(await n.ask(ref, { type: 'where' })).toBe(1);
    expect(registered.get(system)).toBe(50);
    for (const ref of refs) await n.stop(ref);
    await waitFor('the stopped actors to leave the shared registry', () => registered.get(system) === 0 || undefined);
    expect(await n.ask(first, { type: 'ping' })).toBe('pong');
  });

  it('runtime - an actor that throws is restarted by its supervision, beside actors that keep running', async () => {
    const n = await node();
    const flaky = await n.spawn('probe', 'flaky');
    const calm = await n.spawn('probe', 'calm');
    n.tell(flaky, { type: 'boom' });
    await waitFor('the failed actor to be restarted', () => (n.metrics().restarts >= 1 ? true : undefined));
    expect(await n.ask(flaky, { type: 'ping' })).toBe('pong');
    expect(await n.ask(calm, { type: 'ping' })).toBe('pong');
  });
});

describe('runtime - hibernation of idle explicit actors', () => {
  const sleeper = defineActor({
    kind: 'sleeper',
    machine: setup({ types: { context: {} as { n: number }, events: {} as ActorMessage } }).createMachine({
      context: { n: 0 },
      initial: 'counting',
      states: {
        counting: {
          entry: () => entries.push('counting'),
          on: {
            inc: { actions: assign({ n: ({ context }) => context.n + 1 }) },
            get: { actions: ({ context, event }) => reply(event, context.n) },
          },
        },
      },
    }),
    options: { placement: 'explicit', hibernateAfterMs: 60 },
  });
  const entries: string[] = [];

  it('runtime - an idle actor is hibernated and wakes on its next message with its state, without running entry actions again', async () => {
    const ns = await natsServer();
    cleanup.push(() => ns[Symbol.asyncDispose]());
    const n = await testNode(ns.url, 'sleepy', [sleeper]);
    cleanup.push(() => n.close());
    const ref = await n.spawn('sleeper', 's1');
    for (let i = 0; i < 3; i++) n.tell(ref, { type: 'inc' });
    expect(await n.ask(ref, { type: 'get' })).toBe(3);
    await waitFor('the idle actor to hibernate', () => (n.metrics().hibernatedActors === 1 ? true : undefined));
    expect(n.metrics().activeActors, 'still an actor of the node').toBe(1);
    n.tell(ref, { type: 'inc' });
    expect(await n.ask(ref, { type: 'get' })).toBe(4);
    expect(n.metrics().hibernatedActors).toBe(0);
    expect(entries).toEqual(['counting']);
    await waitFor('it to hibernate again', () => (n.metrics().hibernatedActors === 1 ? true : undefined));
    expect(n.metrics().hibernations).toBeGreaterThanOrEqual(2);
    await n.stop(ref);
    expect(n.metrics().activeActors).toBe(0);
  });

  it('runtime - a kind\'s hibernation codec keeps what pack returns and wakes the actor from what unpack rebuilds', async () => {
    const packed: unknown[] = [];
    const inputs: unknown[] = [];
    const counting = sleeper.machine;
    const compact = defineActor({
      kind: 'compact',
      machine: counting,
      options: {
        placement: 'explicit',
        hibernateAfterMs: 60,
        hibernation: {
          // Keeps only the count; the rest of the snapshot is the same for every actor of the kind.
          pack: (snapshot) => {
            const n = (snapshot as unknown as { context: { n: number } }).context.n;
            packed.push(n);
            return n;
          },
          unpack: (n, input) => {
            inputs.push(input.id);
            return { status: 'active', value: 'counting', historyValue: {}, context: { n }, children: {} } as unknown as ReturnType<HibernationCodec['unpack']>;
          },
        },
      },
    });
    const ns = await natsServer();
    cleanup.push(() => ns[Symbol.asyncDispose]());
    const n = await testNode(ns.url, 'compact', [compact]);
    cleanup.push(() => n.close());
    const ref = await n.spawn('compact', 'c1');
    for (let i = 0; i < 5; i++) n.tell(ref, { type: 'inc' });
    expect(await n.ask(ref, { type: 'get' })).toBe(5);
    await waitFor('the idle actor to hibernate', () => (n.metrics().hibernatedActors === 1 ? true : undefined));
    expect(packed).toEqual([5]);
    n.tell(ref, { type: 'inc' });
    expect(await n.ask(ref, { type: 'get' })).toBe(6);
    expect(inputs).toEqual(['c1']);
    expect(() => defineActor({ kind: 'bad', machine: counting, options: { placement: 'explicit', hibernateAfterMs: 10, hibernation: { pack: 1 } as unknown as HibernationCodec } })).toThrow(/pack and unpack/);
    await n.stop(ref);
  });

  it('runtime - hibernateAfterMs is refused on virtual and persisted kinds', () => {
    const machine = setup({}).createMachine({});
    expect(() => defineActor({ kind: 'v', machine, options: { hibernateAfterMs: 10 } })).toThrow(/explicit kinds/);
    expect(() => defineActor({ kind: 'p', machine, options: { placement: 'explicit', persist: true, hibernateAfterMs: 10 } })).toThrow(/persist/);
    expect(() => defineActor({ kind: 'x', machine, options: { placement: 'explicit', hibernateAfterMs: -1 } })).toThrow(/positive/);
  });
});
