/**
 * A node that falls behind keeps its event loop turning (runtime/time-slices.ts): its envelopes are
 * handled in slices, so its heartbeats go out and its stall watchdog stays quiet while it works
 * through seconds of queued messages. Before, Node read up to 2 MB of them from the socket in one
 * turn and they were all handled before the next: the node went silent, the others called it down
 * and it fenced itself (docs/performance.md, P5 "Session 13").
 */
import { afterEach, describe, expect, it } from 'vitest';
import { natsServer } from '../kit/nats.js';
import type { ActorRef, MembershipEvent } from '../../runtime/mod.js';
import { nodeProcess, testNode, waitFor } from './kit.js';

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c().catch(() => undefined);
});

const ACTORS = 20;
const TELLS_EACH = 1_000;
const SPIN_MS = 0.25; // 20,000 tells: 5 s of work, well past DOWN_AFTER_MS
// Longer than the kit's: a loaded CI machine may hold a busy process off its core for a moment.
const DOWN_AFTER_MS = 3_000;

describe('a node behind by seconds of messages', () => {
  it('backlog - handles them in slices: its heartbeats go on, nobody calls it down, every message is handled in order', async () => {
    const ns = await natsServer();
    cleanup.push(() => ns[Symbol.asyncDispose]());
    const a = await nodeProcess(ns.url, 'a', { KINDS: 'echo', DOWN_AFTER_MS: String(DOWN_AFTER_MS) });
    cleanup.push(() => a[Symbol.asyncDispose]());
    const t = await testNode(ns.url, 't', [], { downAfterMs: DOWN_AFTER_MS });
    cleanup.push(() => t.close());
    await waitFor('t to see a', () => t.members().some((m) => m.nodeId === 'a'));
    const targets = Array.from({ length: ACTORS }, (_, i): ActorRef => ({ kind: 'echo', id: `busy${i}` }));
    for (const r of targets) expect(await t.ask<{ node: string }>(r, { type: 'echo' })).toMatchObject({ node: 'a' });

    const downs: MembershipEvent[] = [];
    t.onMembership((e) => void (e.type === 'down' && downs.push(e)));
    const started = Date.now();
    // One turn: the tells leave in a few 64-KB batches and reach a's socket at once.
    for (let i = 0; i < TELLS_EACH; i++) for (const r of targets) t.tell(r, { type: 'spin', ms: SPIN_MS });
    // Asked after the tells: answered once each actor has worked through its share.
    const answers = await Promise.all(targets.map((r) => t.ask<{ node: string }>(r, { type: 'echo' }, { timeoutMs: 60_000 })));
    const took = Date.now() - started;
    expect(took).toBeGreaterThan(ACTORS * TELLS_EACH * SPIN_MS); // the work was done
    expect(answers.every((x) => x.node === 'a')).toBe(true); // by the same activations: none was fenced and moved
    expect(downs).toEqual([]);
    expect(t.members().map((m) => m.nodeId)).toContain('a');
    expect(took).toBeGreaterThan(DOWN_AFTER_MS); // long enough that a stalled loop would have been called down
  });
});
