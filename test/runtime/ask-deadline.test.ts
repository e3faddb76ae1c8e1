/**
 * Ask deadlines (runtime/envelope.ts field 7, reply.ts): an ask that reaches its actor after its asker
 * gave up is answered `timeout` and not run, so a caller that resends after a timeout (the client
 * library resends a commit with its txid) never has both copies applied. Real nats-server, a real
 * node; a raw NATS connection plays an asker whose ask arrived late.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { decode, encode } from '../../protocol/mod.js';
import type { ActorNode } from '../../runtime/mod.js';
import { askBytes, checkEnvelope, F } from '../../runtime/envelope.js';
import { askExpired, DEADLINE_SLACK_MS, markForReply, pastDeadline, ReplyTo, type ReplySink } from '../../runtime/reply.js';
import { natsServer, type NatsServer } from '../kit/nats.js';
import { counter } from './fixtures/kinds.js';
import { testNode } from './kit.js';

const ASKER = 'late-asker';
const ASK = 1;

let ns: NatsServer;
let node: ActorNode & AsyncDisposable;
let nc: NatsConnection;

beforeAll(async () => {
  ns = await natsServer();
  node = await testNode(ns.url, 'dl', [counter]);
  nc = await connect({ servers: ns.url });
});

afterAll(async () => {
  await nc?.close();
  await node?.[Symbol.asyncDispose]();
  await ns?.[Symbol.asyncDispose]();
});

/** Sends a raw ask from ASKER and resolves with the decoded reply frame. */
async function rawAsk(id: string, message: Record<string, unknown>, corr: number, deadline: number | undefined): Promise<unknown[]> {
  const sub = nc.subscribe(`sm.reply.${ASKER}`, { max: 1 });
  const frame = deadline === undefined ? [ASK, 'counter', id, message, ASKER, corr] : [ASK, 'counter', id, message, ASKER, corr, null, deadline];
  nc.publish('sm.node.dl', encode(frame));
  for await (const m of sub) return decode(m.data) as unknown[];
  throw new Error('no reply');
}

describe('ask deadlines', () => {
  it('an ask that arrives past its deadline is answered timeout and not run; one within it is run', async () => {
    const id = 'late-1';
    const before = node.metrics().asksExpired;
    const late = await rawAsk(id, { type: 'get' }, 11, Date.now() - DEADLINE_SLACK_MS - 5_000);
    expect(late[0]).toBe(11);
    expect(late[1]).toBe('timeout');
    expect(String(late[2])).toMatch(/past its deadline/);
    expect(node.metrics().asksExpired - before).toBe(1);
    // A late `inc` (which answers nothing when run) changes nothing either ...
    await rawAsk(id, { type: 'inc', by: 5 }, 12, Date.now() - DEADLINE_SLACK_MS - 1_000);
    expect(await node.ask<{ n: number }>({ kind: 'counter', id }, { type: 'get' })).toMatchObject({ n: 0 });
    // ... and the same ask in time, or without a deadline, is run.
    const inTime = await rawAsk(id, { type: 'get' }, 13, Date.now() + 5_000);
    expect(inTime).toEqual([13, expect.objectContaining({ n: 0 })]);
    node.tell({ kind: 'counter', id }, { type: 'inc', by: 2 });
    expect(await rawAsk(id, { type: 'get' }, 14, undefined)).toEqual([14, expect.objectContaining({ n: 2 })]);
  });

  it('node.ask sends its deadline (now + timeoutMs) in the envelope', async () => {
    await using other = await testNode(ns.url, 'dl2', [counter]);
    const spy = nc.subscribe('sm.node.dl');
    const seen: unknown[][] = [];
    void (async () => {
      for await (const m of spy) seen.push(decode(m.data) as unknown[]);
    })();
    await nc.flush();
    // Ask counters from dl2 until one is placed on dl (the ask then crosses NATS to sm.node.dl).
    let sentAt = 0;
    for (let i = 0; seen.length === 0 && i < 200; i++) {
      sentAt = Date.now();
      await other.ask({ kind: 'counter', id: `placed-${i}` }, { type: 'get' }, { timeoutMs: 7_000 });
    }
    spy.unsubscribe();
    const ask = seen.find((f) => f[0] === ASK);
    expect(ask, 'an ask from dl2 to dl').toBeDefined();
    expect(Number(ask![F.deadline])).toBeGreaterThanOrEqual(sentAt + 7_000);
    expect(Number(ask![F.deadline])).toBeLessThan(Date.now() + 7_000);
  });

  it('an ask envelope carries its deadline at position 7, and a malformed one is refused', () => {
    const t = Date.now();
    const raw = decode(askBytes('k', 'i', false, { type: 'x' }, 'n', 1, 0, t + 4_000)) as unknown[];
    expect(checkEnvelope(raw)).toBeUndefined();
    expect(raw[F.deadline]).toBe(t + 4_000);
    expect(raw[F.hops]).toBe(0);
    // Without one the ask is as before (older nodes' asks).
    expect(decode(askBytes('k', 'i', false, { type: 'x' }, 'n', 1))).toHaveLength(6);
    // A malformed deadline is refused like any malformed field, with the reply address.
    expect(checkEnvelope([ASK, 'k', 'i', { type: 'x' }, 'n', 1, null, 'soon'])).toMatchObject({ problem: /deadline/, replyNode: 'n', corr: 1 });
  });

  it('a queued ask past its deadline is answered timeout, once; one in time or without a deadline is left to run', () => {
    const fails: unknown[][] = [];
    const sink: ReplySink = { replyOk: () => undefined, replyFail: (...a) => void fails.push(a) };
    const now = 1_000_000;
    const late = markForReply({ type: 'x' }, new ReplyTo(sink, 'n', 1, now - DEADLINE_SLACK_MS - 1));
    expect(askExpired(late, now)).toBe(true);
    expect(askExpired(late, now)).toBe(false); // answered already
    expect(fails).toEqual([['n', 1, 'timeout', expect.stringMatching(/past its deadline/), undefined]]);
    expect(askExpired(markForReply({ type: 'x' }, new ReplyTo(sink, 'n', 2, now - DEADLINE_SLACK_MS)), now)).toBe(false); // within the slack
    expect(askExpired(markForReply({ type: 'x' }, new ReplyTo(sink, 'n', 3, 0)), now)).toBe(false);
    expect(askExpired({ type: 'a tell' }, now)).toBe(false);
    expect(pastDeadline(0, now)).toBe(false);
  });
});
