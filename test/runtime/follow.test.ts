/**
 * stop and watch of a virtual actor that is active on another node than its placed one (the
 * placement changed after it activated): they follow it to its lease holder (runtime/follow.ts).
 *
 * Setup: node process `h` activates echo actors while it is the only host; then node process `p`
 * joins and wins the placement of those ids. The actors stay active on `h`.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { natsServer } from '../kit/nats.js';
import type { ActorNode, ActorRef } from '../../runtime/mod.js';
import { watcher } from './fixtures/kinds.js';
import { idsPlacedOn, nodeProcess, testNode, waitFor, type NodeProcess } from './kit.js';

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c().catch(() => undefined);
});

type Terminated = { ref: ActorRef; reason: string };

/** h hosts echo actors `ids` (activated while alone), then p joins; t hosts a watcher `w`. */
async function movedPlacement(prefix: string, count: number): Promise<{ t: ActorNode; h: NodeProcess; w: ActorRef; targets: ActorRef[] }> {
  const ns = await natsServer();
  cleanup.push(() => ns[Symbol.asyncDispose]());
  const h = await nodeProcess(ns.url, 'h', { KINDS: 'echo' });
  cleanup.push(() => h[Symbol.asyncDispose]());
  const t = await testNode(ns.url, 't', [watcher]);
  cleanup.push(() => t.close());
  await waitFor('t to see h', () => t.members().some((m) => m.nodeId === 'h'));
  const targets = idsPlacedOn('p', ['h', 'p'], 'echo', prefix, count).map((id): ActorRef => ({ kind: 'echo', id }));
  for (const r of targets) expect(await t.ask<{ node: string }>(r, { type: 'echo' })).toMatchObject({ node: 'h' });
  const p = await nodeProcess(ns.url, 'p', { KINDS: 'echo' });
  cleanup.push(() => p[Symbol.asyncDispose]());
  await waitFor('t to see p', () => t.members().some((m) => m.nodeId === 'p'));
  const w = await t.spawn('watcher', 'w', { node: 't' });
  return { t, h, w, targets };
}

describe('following a virtual actor to its lease holder', () => {
  it('follow - stop, watch and unwatch sent to the placed node reach the actor where it is active', async () => {
    const { t, w, targets } = await movedPlacement('s', 2);
    const [x, z] = targets as [ActorRef, ActorRef];
    await t.ask(w, { type: 'watch', target: z });
    t.unwatch(w, z);
    await t.ask(w, { type: 'watch', target: x });
    await t.stop(z);
    await t.stop(x);
    // h tells the watcher in stop order: hearing about x means z (unwatched) would have come first.
    await waitFor('the watcher to hear x stopped', async () => (await t.ask<Terminated[]>(w, { type: 'terminated' })).length > 0);
    expect(await t.ask<Terminated[]>(w, { type: 'terminated' })).toEqual([{ ref: x, reason: 'stopped' }]);
    // Stopped on h for real: the next message activates it at its placement, p.
    expect(await t.ask<{ node: string }>(x, { type: 'echo' })).toMatchObject({ node: 'p' });
  });

  it('follow - a watch that followed its actor hears node-down when the holder dies', async () => {
    const { t, h, w, targets } = await movedPlacement('d', 2);
    const [y, other] = targets as [ActorRef, ActorRef];
    await t.ask(w, { type: 'watch', target: y });
    // p follows one request at a time: once this stop is answered (from h), p has moved y's watch
    // to h and told t so before it forwarded the stop.
    await t.stop(other);
    await h.kill9();
    await waitFor('the watcher to hear y node-down', async () =>
      (await t.ask<Terminated[]>(w, { type: 'terminated' })).some((g) => g.ref.id === y.id && g.reason === 'node-down'),
    );
    expect(await t.ask<Terminated[]>(w, { type: 'terminated' })).toEqual([{ ref: y, reason: 'node-down' }]);
  });

  it('follow - a watch registered while the placed node activates the actor moves to the lease holder when the activation loses', async () => {
    const { t, w, targets } = await movedPlacement('m', 1);
    const [x] = targets as [ActorRef];
    // One turn, one batch to p: the tell makes p activate x (the lease read is asynchronous), and
    // the watch lands on p while x is activating there. Then p finds h holding the lease.
    t.tell(x, { type: 'echo' });
    t.watch(w, x);
    // Answered once p's activation settled (queued behind it, then forwarded to h).
    expect(await t.ask<{ node: string }>(x, { type: 'echo' })).toMatchObject({ node: 'h' });
    await t.stop(x);
    await waitFor('the watcher to hear x stopped', async () => (await t.ask<Terminated[]>(w, { type: 'terminated' })).length > 0);
    expect(await t.ask<Terminated[]>(w, { type: 'terminated' })).toEqual([{ ref: x, reason: 'stopped' }]);
  });

  it('follow - a stop that reaches the placed node while it activates the actor follows it to the lease holder', async () => {
    const { t, w, targets } = await movedPlacement('k', 1);
    const [x] = targets as [ActorRef];
    await t.ask(w, { type: 'watch', target: x }); // the watch follows x to h
    // One turn, one batch to p: the tell makes p activate x, the stop lands while it activates.
    t.tell(x, { type: 'echo' });
    await t.stop(x);
    await waitFor('the watcher to hear x stopped', async () => (await t.ask<Terminated[]>(w, { type: 'terminated' })).length > 0);
    expect(await t.ask<Terminated[]>(w, { type: 'terminated' })).toEqual([{ ref: x, reason: 'stopped' }]);
  });
});
