/**
 * Messages to a virtual kind that no live member hosts wait for a host (runtime/host-wait.ts):
 * answered once one joins, refused near the cap when none does, bounded per kind.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { natsServer } from '../kit/nats.js';
import { NoSuchActorError, UnavailableError, type ActorNode } from '../../runtime/mod.js';
import { counter, echo } from './fixtures/kinds.js';
import { testNode, waitFor } from './kit.js';

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c().catch(() => undefined);
});

async function server(): Promise<string> {
  const ns = await natsServer();
  cleanup.push(() => ns[Symbol.asyncDispose]());
  return ns.url;
}

async function node(...args: Parameters<typeof testNode>): Promise<ActorNode> {
  const n = await testNode(...args);
  cleanup.push(() => n.close());
  return n;
}

type Count = { n: number; node: string; seen: number[] };

describe('waiting for a host', () => {
  it('host wait - tells and an ask sent before the only hosting node starts are delivered in order once it joins', async () => {
    const url = await server();
    // A generous wait: starting the host (KV buckets, discovery) can take seconds on a loaded machine.
    const a = await node(url, 'a', [], { hostWaitMs: 15_000 });
    for (let seq = 1; seq <= 5; seq++) a.tell({ kind: 'counter', id: 'early' }, { type: 'inc', seq });
    const answer = a.ask<Count>({ kind: 'counter', id: 'early' }, { type: 'get' }, { timeoutMs: 15_000 });
    expect(a.metrics().waitingForHost).toBe(6);

    const h = await node(url, 'h', [counter, echo]);
    const got = await answer;
    expect(got).toMatchObject({ n: 5, node: 'h', seen: [1, 2, 3, 4, 5] });
    const m = a.metrics();
    expect(m.waitingForHost).toBe(0);
    expect(m.hostWaits).toBe(6);
    expect(m.hostWaitExpired).toBe(0);
    expect(m.deadLetters).toBe(0);

    // A restart of the only host: it leaves (down, reason left), an ask waits, a new host answers it.
    await a.ask({ kind: 'echo', id: 'r' }, { type: 'echo', value: 1 }, { timeoutMs: 15_000 });
    await h.close();
    await waitFor('a to see h leave', () => !a.members().some((x) => x.nodeId === 'h'));
    const during = a.ask<{ value: number; node: string }>({ kind: 'echo', id: 'r' }, { type: 'echo', value: 2 }, { timeoutMs: 15_000 });
    await node(url, 'h2', [counter, echo]);
    expect(await during).toEqual({ value: 2, node: 'h2' });
  });

  it('host wait - with no host ever, an ask rejects with NoSuchActorError near the cap (or its own deadline) and a tell is a dead letter', async () => {
    const url = await server();
    const a = await node(url, 'a', [], { hostWaitMs: 1_000 });
    const started = Date.now();
    const long = a.ask({ kind: 'nobody', id: 'x' }, { type: 'hi' }, { timeoutMs: 20_000 }).then(
      () => undefined,
      (e: unknown) => ({ e, ms: Date.now() - started }),
    );
    const short = a.ask({ kind: 'nobody', id: 'y' }, { type: 'hi' }, { timeoutMs: 300 }).then(
      () => undefined,
      (e: unknown) => ({ e, ms: Date.now() - started }),
    );
    a.tell({ kind: 'nobody', id: 'z' }, { type: 'hi' });

    const s = await short;
    expect(s?.e).toBeInstanceOf(NoSuchActorError);
    expect(s!.ms).toBeGreaterThanOrEqual(290);
    expect(s!.ms).toBeLessThan(300 + 2_000); // sweep resolution 25 ms; room for a loaded machine
    const l = await long;
    expect(l?.e).toBeInstanceOf(NoSuchActorError);
    expect((l!.e as Error).message).toMatch(/no live node hosts actor kind nobody \(waited \d+ ms for one to join\); start a node with that kind/);
    expect(l!.ms).toBeGreaterThanOrEqual(990);
    expect(l!.ms).toBeLessThan(1_000 + 2_000);
    await waitFor('the tell to be a dead letter', () => a.metrics().deadLetters === 1);
    expect(a.metrics()).toMatchObject({ hostWaits: 3, hostWaitExpired: 3, waitingForHost: 0 });
  });

  it('host wait - a full waiting room refuses with UnavailableError; hostWaitMs 0 fails at once; closing fails what waits', async () => {
    const url = await server();
    const a = await node(url, 'a', [], { hostWaitMs: 20_000, hostWaitCapacity: 2 });
    const first = a.ask({ kind: 'nobody', id: '1' }, { type: 'hi' }, { timeoutMs: 20_000 }).catch((e: unknown) => e);
    a.tell({ kind: 'nobody', id: '2' }, { type: 'hi' });
    await expect(a.ask({ kind: 'nobody', id: '3' }, { type: 'hi' })).rejects.toThrow(UnavailableError);
    a.tell({ kind: 'nobody', id: '4' }, { type: 'hi' }); // refused: a dead letter at once
    // Another kind has its own queue.
    const other = a.ask({ kind: 'other', id: '1' }, { type: 'hi' }, { timeoutMs: 20_000 }).catch((e: unknown) => e);
    expect(a.metrics()).toMatchObject({ hostWaitRefused: 2, waitingForHost: 3, deadLetters: 1 });

    const off = await node(url, 'off', [], { hostWaitMs: 0 });
    await expect(off.ask({ kind: 'nobody', id: '1' }, { type: 'hi' })).rejects.toThrow(NoSuchActorError);

    await a.close();
    expect(await first).toBeInstanceOf(UnavailableError);
    expect(await other).toBeInstanceOf(UnavailableError);
    expect(a.metrics()).toMatchObject({ waitingForHost: 0, deadLetters: 2 });
  });
});
