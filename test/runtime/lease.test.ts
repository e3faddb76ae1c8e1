/**
 * Single activation when a node is paused past its lease (R8, runtime side): the paused node's
 * actor is taken over by another node, and when the paused node resumes it learns that it lost
 * the lease (its stall watchdog self-fences) and the actor's `signal` aborts with LeaseLostError.
 * A node process (compiled fixture) paused with SIGSTOP, in-process nodes, a real nats-server.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { natsServer, type NatsServer } from '../kit/nats.js';
import { decode } from '../../protocol/mod.js';
import type { ActorNode } from '../../runtime/mod.js';
import { guard, SIGNALS_SUBJECT } from './fixtures/kinds.js';
import { nodeProcess, testNode, waitFor, type NodeProcess } from './kit.js';

let ns: NatsServer;
let p: NodeProcess;
/** Failure detection for this test: slow enough that a loaded machine's hiccups are not taken for the pause. */
const DOWN_AFTER_MS = 4_000;
let nc: NatsConnection;
const cleanup: (() => Promise<void>)[] = [];

beforeAll(async () => {
  ns = await natsServer();
  p = await nodeProcess(ns.url, 'lp', { KINDS: 'guard', DOWN_AFTER_MS: String(DOWN_AFTER_MS) });
  nc = await connect({ servers: ns.url });
});

afterAll(async () => {
  if (p?.proc.exitCode === null) p.proc.kill('SIGCONT');
  for (const c of cleanup.reverse()) await c().catch(() => undefined);
  await nc?.close();
  await p?.[Symbol.asyncDispose]();
  await ns?.[Symbol.asyncDispose]();
});

async function node(id: string, kinds = [guard]): Promise<ActorNode> {
  const n = await testNode(ns.url, id, kinds, { downAfterMs: DOWN_AFTER_MS });
  cleanup.push(() => n.close());
  return n;
}

describe('lease fencing', () => {
  it('lease - a node paused past downAfterMs loses its actor to another node and, resumed, aborts the actor signal with LeaseLostError', async () => {
    const signals: { id: string; node: string; reason: string }[] = [];
    const sub = nc.subscribe(SIGNALS_SUBJECT, { callback: (_e, m) => void signals.push(decode(m.data) as (typeof signals)[number]) });
    await nc.flush();
    const caller = await node('lc', []);
    await waitFor('the caller to see lp', () => caller.members().some((m) => m.nodeId === 'lp'));
    const g = { kind: 'guard', id: 'g1' };
    expect(await caller.ask(g, { type: 'where' })).toBe('lp');

    const taker = await node('lt');
    await waitFor('the caller to see lt', () => caller.members().some((m) => m.nodeId === 'lt'));
    p.proc.kill('SIGSTOP');
    await waitFor('lp to be seen down', () => !caller.members().some((m) => m.nodeId === 'lp') && !taker.members().some((m) => m.nodeId === 'lp'), 30_000);
    // lp still holds the lease in KV, but it is not live: lt takes the lease over (CAS on its revision).
    expect(await caller.ask(g, { type: 'where' })).toBe('lt');
    expect(signals).toEqual([]);

    p.proc.kill('SIGCONT');
    await waitFor('the paused activation to learn it lost its lease', () => signals.find((s) => s.node === 'lp'), 15_000);
    expect(signals).toEqual([{ id: 'g1', node: 'lp', reason: 'LeaseLostError' }]);
    // lp is back as a member; the actor stays where the lease is.
    await waitFor('lp to be live again', () => caller.members().some((m) => m.nodeId === 'lp'), 15_000);
    expect(await caller.ask(g, { type: 'where' })).toBe('lt');
    expect(p.proc.exitCode).toBeNull();
    sub.unsubscribe();
  }, 60_000);
});
