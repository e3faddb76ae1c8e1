/**
 * The store actor's own commit queue (commits of a user run one after another): a commit that waited
 * there is not run when its asker gave up meanwhile (ask deadline), nor when the activation ended
 * meanwhile (the lease lost, or stopped). Either would let an old commit be applied after the asker
 * resent it, or let a stale activation write (R8). A real runtime on a real nats-server; the CloudStore
 * is a small stand-in whose first commit waits for the test, so the others queue behind it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import type { CommitRequest, CommitResult } from '../../actors/messages.js';
import { StaleWriteError, storeKind, STORE_KIND, type CloudStore } from '../../actors/store/mod.js';
import { connectionId } from '../../protocol/cluster/mod.js';
import { startNode, type ActorNode } from '../../runtime/mod.js';
import { natsServer, type NatsServer } from '../kit/nats.js';

const logger = pino({ level: process.env['LOG_LEVEL'] ?? 'silent' });

/** A CloudStore whose commits wait at a gate the test opens; it records the txids it applied. */
function gatedStore(): { store: CloudStore; applied: string[]; forgets: number; open(): void; entered: Promise<void> } {
  let open!: () => void;
  const gate = new Promise<void>((r) => (open = r));
  let entered!: () => void;
  const first = new Promise<void>((r) => (entered = r));
  const applied: string[] = [];
  const out = { store: undefined as unknown as CloudStore, applied, forgets: 0, open, entered: first };
  out.store = {
    // Called when an activation starts (it drops what the node cached of the user).
    forget: () => void out.forgets++,
    takeNewDevices: () => [],
    commit: async (req: CommitRequest) => {
      entered();
      await gate;
      // As the real store answers a commit whose index write lost its compare-and-set.
      if (req.txid!.startsWith('stale')) throw new StaleWriteError('the index was changed meanwhile by another storage node');
      applied.push(req.txid!);
      return { rev: applied.length, conflicts: [], devices: [] };
    },
  } as unknown as CloudStore;
  return out;
}

const commitOf = (userId: string, txid: string): CommitRequest => ({
  type: 'commit',
  userId,
  deviceId: 'd',
  connectionId: connectionId(userId, 'd'),
  collection: 'c',
  changes: [{ key: 'k', value: txid }],
  txid,
});

let ns: NatsServer;
let node: ActorNode;
let gated: ReturnType<typeof gatedStore>;

beforeAll(async () => {
  ns = await natsServer();
  gated = gatedStore();
  node = await startNode({ nats: ns.url, nodeId: 'q', roles: ['storage'], kinds: [storeKind(gated.store)], heartbeatMs: 150, downAfterMs: 1_500, logger });
});

afterAll(async () => {
  await node?.close();
  await ns?.[Symbol.asyncDispose]();
});

describe('store actor - the commit queue', () => {
  it('a queued commit whose asker gave up is not run; one whose activation ended is refused and not run', async () => {
    const userId = 'queue-user';
    const ref = { kind: STORE_KIND, id: userId };
    const first = node.ask<CommitResult>(ref, commitOf(userId, 'tx-1'), { timeoutMs: 20_000 });
    await gated.entered; // tx-1 holds the queue
    // tx-2's asker gives up while it waits behind tx-1 (past its deadline and the runtime's slack).
    const second = node.ask<CommitResult>(ref, commitOf(userId, 'tx-2'), { timeoutMs: 100 });
    await expect(second).rejects.toMatchObject({ code: 'timeout' });
    await new Promise((r) => setTimeout(r, 400)); // the deadline's slack (DEADLINE_SLACK_MS, 250 ms)
    // tx-3 waits too, and then the activation ends (stopped: its signal aborts).
    const third = node.ask<CommitResult>(ref, commitOf(userId, 'tx-3'), { timeoutMs: 20_000 });
    await new Promise((r) => setTimeout(r, 50)); // tx-3 is in the queue
    const stopped = node.stop(ref);
    gated.open();
    expect(await first).toMatchObject({ rev: 1 });
    await expect(third).rejects.toThrow(/no longer holds this user's store/);
    await stopped;
    expect(gated.applied).toEqual(['tx-1']);
  });

  it('an activation whose index write was refused (another one wrote) stops; the next request starts a new one', async () => {
    gated.open(); // commits run at once here
    const userId = 'stale-user';
    const ref = { kind: STORE_KIND, id: userId };
    const activations = gated.forgets;
    await expect(node.ask(ref, commitOf(userId, 'stale-1'), { timeoutMs: 5_000 })).rejects.toThrow(/another storage node/);
    const deadline = Date.now() + 5_000;
    while ((node.metrics().actorsByKind[STORE_KIND]?.active ?? 0) > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(node.metrics().actorsByKind[STORE_KIND]?.active ?? 0).toBe(0);
    expect(await node.ask<CommitResult>(ref, commitOf(userId, 'tx-after'), { timeoutMs: 5_000 })).toMatchObject({ conflicts: [] });
    expect(gated.forgets - activations).toBe(2); // the refused activation, then a fresh one
  });
});
