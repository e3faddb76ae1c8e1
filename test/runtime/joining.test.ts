/**
 * A node that joins while a live member is silent for a moment (busy, paused) must not take that
 * member's activation leases: it knows only the members that answered its discovery round in time,
 * and a member it has not heard of is not gone until it has listened for downAfterMs
 * (runtime/membership.ts `heardOf`, runtime/leases.ts).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { setTimeout as delay } from 'node:timers/promises';
import { natsServer } from '../kit/nats.js';
import type { ActorRef } from '../../runtime/mod.js';
import { echo } from './fixtures/kinds.js';
import { DOWN_AFTER_MS as DEFAULT_DOWN_AFTER_MS, idsPlacedOn, nodeProcess, testNode, waitFor } from './kit.js';

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c().catch(() => undefined);
});

// Long enough that nobody calls h down while it is paused, on a loaded machine too.
const DOWN_AFTER_MS = 8_000;

describe('a node that joins while a live member is silent', () => {
  it('joining - does not take the silent member\'s leases: activation waits until it is heard of, then forwards to it', async () => {
    const ns = await natsServer();
    cleanup.push(() => ns[Symbol.asyncDispose]());
    const h = await nodeProcess(ns.url, 'h', { KINDS: 'echo', DOWN_AFTER_MS: String(DOWN_AFTER_MS) });
    cleanup.push(() => h[Symbol.asyncDispose]());
    const t = await testNode(ns.url, 't', [], { downAfterMs: DOWN_AFTER_MS });
    cleanup.push(() => t.close());
    await waitFor('t to see h', () => t.members().some((m) => m.nodeId === 'h'));
    // x is active on h (its lease holder) and will be placed on p once p joins.
    const x: ActorRef = { kind: 'echo', id: idsPlacedOn('p', ['h', 'p'], 'echo', 'j', 1)[0]! };
    expect(await t.ask<{ node: string }>(x, { type: 'echo' })).toMatchObject({ node: 'h' });

    h.proc.kill('SIGSTOP');
    let resumed = false;
    cleanup.push(async () => void (resumed || h.proc.kill('SIGCONT')));
    const p = await testNode(ns.url, 'p', [echo], { downAfterMs: DOWN_AFTER_MS });
    cleanup.push(() => p.close());
    expect(p.members().map((m) => m.nodeId)).not.toContain('h'); // h did not answer p's discovery

    // x's first message on p, its placement: p must not take x's lease while it cannot tell h is gone.
    const answer = p.ask<{ node: string }>(x, { type: 'echo' }, { timeoutMs: 30_000 });
    const early = await Promise.race([answer.then((a) => a.node), delay(500, 'still waiting')]);
    expect(early).toBe('still waiting');

    h.proc.kill('SIGCONT');
    resumed = true;
    // h's heartbeat reaches p: h is live, so p forwards to it.
    expect(await answer).toMatchObject({ node: 'h' });
    expect(p.members().map((m) => m.nodeId)).toContain('h');
  });

  it('joining - takes the lease of a member that is gone once it has listened for downAfterMs', async () => {
    const ns = await natsServer();
    cleanup.push(() => ns[Symbol.asyncDispose]());
    const h = await nodeProcess(ns.url, 'h', { KINDS: 'echo' });
    cleanup.push(() => h[Symbol.asyncDispose]());
    const t = await testNode(ns.url, 't');
    cleanup.push(() => t.close());
    await waitFor('t to see h', () => t.members().some((m) => m.nodeId === 'h'));
    const x: ActorRef = { kind: 'echo', id: idsPlacedOn('p', ['h', 'p'], 'echo', 'g', 1)[0]! };
    expect(await t.ask<{ node: string }>(x, { type: 'echo' })).toMatchObject({ node: 'h' });
    await h.kill9(); // its lease of x stays behind

    const p = await testNode(ns.url, 'p', [echo]);
    cleanup.push(() => p.close());
    const started = Date.now();
    // p never hears of h: after DOWN_AFTER_MS of listening it takes x's lease over.
    expect(await p.ask<{ node: string }>(x, { type: 'echo' }, { timeoutMs: 30_000 })).toMatchObject({ node: 'p' });
    expect(Date.now() - started).toBeLessThan(DEFAULT_DOWN_AFTER_MS + 10_000);
  });
});
