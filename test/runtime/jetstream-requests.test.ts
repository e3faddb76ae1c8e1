import { describe, expect, it } from 'vitest';
import { NoRespondersError, TimeoutError, type Msg, type NatsConnection } from '@nats-io/nats-core';
import { JetStreamApiError, jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { natsServer } from '../kit/nats.js';
import { ConnectionLostError, JetStreamRequests } from '../../runtime/mod.js';
import { isTransient } from '../../actors/store/retry.js';
import { isWrongLastSequence } from '../../actors/store/writes.js';

describe('store - JetStream requests over one reply subscription', () => {
  it('requests - publishes with acks, duplicates, compare-and-set refusals, no responders and timeouts, each as nats.js reports them', async () => {
    await using ns = await natsServer();
    const nc = await connect({ servers: ns.url });
    const requests = new JetStreamRequests(nc);
    try {
      const jsm = await jetstreamManager(nc);
      await jsm.streams.add({ name: 'REQ', subjects: ['req.>'], allow_direct: true });
      const bytes = new Uint8Array([1, 2, 3]);

      const first = await requests.publish('req.a', bytes, { timeoutMs: 2_000, msgID: 'm1', expectLastSubjectSequence: 0 });
      expect(first).toEqual({ seq: 1, duplicate: false });
      // The same message id again: JetStream answers with the first write's sequence. (Repeated with its
      // now stale expected sequence, 2.9 still answers "duplicate" and later servers refuse it:
      // test/store/write-retry.test.ts.)
      expect(await requests.publish('req.a', bytes, { timeoutMs: 2_000, msgID: 'm1' })).toEqual({ seq: 1, duplicate: true });
      // A compare-and-set against a moved subject is refused with 10071, as writes.ts expects.
      const refused = await requests.publish('req.a', bytes, { timeoutMs: 2_000, msgID: 'm2', expectLastSubjectSequence: 0 }).catch((e: unknown) => e);
      expect(refused).toBeInstanceOf(JetStreamApiError);
      expect(isWrongLastSequence(refused)).toBe(true);
      expect(await requests.publish('req.a', bytes, { timeoutMs: 2_000, msgID: 'm3', expectLastSubjectSequence: 1 })).toEqual({ seq: 2, duplicate: false });

      // A subject no stream takes: no responders, which the storage's retries treat as transient.
      const none = await requests.publish('nowhere.a', bytes, { timeoutMs: 2_000 }).catch((e: unknown) => e);
      expect(none).toBeInstanceOf(NoRespondersError);
      expect(isTransient(none)).toBe(true);

      // A responder that never answers: TimeoutError after the deadline.
      nc.subscribe('silent');
      await nc.flush();
      const t0 = Date.now();
      const late = await requests.request('silent', bytes, 200).catch((e: unknown) => e);
      expect(late).toBeInstanceOf(TimeoutError);
      expect(isTransient(late)).toBe(true);
      expect(Date.now() - t0).toBeGreaterThanOrEqual(190);

      // Direct get of a sequence: the raw message comes back.
      const got = await requests.request('$JS.API.DIRECT.GET.REQ', new TextEncoder().encode(JSON.stringify({ seq: 2 })), 2_000);
      expect(got.headers?.last('Nats-Sequence')).toBe('2');
      expect([...got.data]).toEqual([1, 2, 3]);

      // Many at once, each answered to its own caller.
      const many = await Promise.all(Array.from({ length: 200 }, (_, i) => requests.publish(`req.m${i}`, bytes, { timeoutMs: 5_000, expectLastSubjectSequence: 0 })));
      expect(new Set(many.map((a) => a.seq)).size).toBe(200);
    } finally {
      requests.close();
      await nc.close();
    }
  });

  it('requests - a dropped connection fails the waiting requests at once (transient), and requests work again after the reconnect', async () => {
    await using ns = await natsServer();
    const nc = await connect({ servers: ns.url, maxReconnectAttempts: -1, reconnectTimeWait: 100 });
    const requests = new JetStreamRequests(nc);
    try {
      const jsm = await jetstreamManager(nc);
      await jsm.streams.add({ name: 'RC', subjects: ['rc.>'] });
      const silent = await connect({ servers: ns.url });
      silent.subscribe('silent');
      await silent.flush();
      const t0 = Date.now();
      const waiting = requests.request('silent', new Uint8Array(0), 60_000).catch((e: unknown) => e);
      await ns.restart();
      const err = await waiting;
      expect(err).toBeInstanceOf(ConnectionLostError);
      expect(isTransient(err)).toBe(true);
      expect(Date.now() - t0, 'failed on the drop, not after its 60-s timeout').toBeLessThan(20_000);
      await silent.close().catch(() => undefined);
      // The reply subscription is back after the reconnect.
      const deadline = Date.now() + 20_000;
      for (;;) {
        const ack = await requests.publish('rc.a', new Uint8Array([1]), { timeoutMs: 1_000 }).catch((e: unknown) => e);
        if (!(ack instanceof Error)) break;
        if (!isTransient(ack) || Date.now() > deadline) throw ack;
      }
    } finally {
      requests.close();
      await nc.close();
    }
  });

  it('requests - close fails the requests still waiting', async () => {
    await using ns = await natsServer();
    const nc = await connect({ servers: ns.url });
    try {
      const requests = new JetStreamRequests(nc);
      nc.subscribe('silent');
      await nc.flush();
      const waiting = requests.request('silent', new Uint8Array(0), 60_000).catch((e: unknown) => e);
      requests.close();
      expect(await waiting).toBeInstanceOf(TimeoutError);
    } finally {
      await nc.close();
    }
  });

  it('requests - a burst of answers whose continuations outlast their timeouts: settled in slices with the loop turning between them, none timed out while it waited', async () => {
    // A small fake connection (a unit test: the real server is in the tests above): the test delivers
    // the answers itself, all in one go, as one socket read of them would.
    let deliver: ((err: Error | null, m: Msg) => void) | undefined;
    const replies: string[] = [];
    const nc = {
      options: {},
      subscribe: (_subject: string, opts: { callback: typeof deliver }) => {
        deliver = opts.callback;
        return { unsubscribe: () => undefined };
      },
      publish: (_subject: string, _payload: Uint8Array, opts: { reply: string }) => void replies.push(opts.reply),
      isClosed: () => false,
      status: () => ({ [Symbol.asyncIterator]: () => ({ next: () => new Promise<never>(() => undefined) }) }),
    } as unknown as NatsConnection;
    const requests = new JetStreamRequests(nc);
    const COUNT = 200; // more than the 64 settled at once in a turn
    const TIMEOUT_MS = 100;
    const WORK_MS = 2; // each answer's continuation: 200 x 2 ms = 400 ms, four times the timeout
    const settled: number[] = [];
    const answered = Array.from({ length: COUNT }, (_, i) =>
      requests.request('burst', new Uint8Array([i]), TIMEOUT_MS).then(() => {
        const until = performance.now() + WORK_MS;
        while (performance.now() < until);
        settled.push(i);
      }),
    );
    expect(replies).toHaveLength(COUNT);
    let ticks = 0;
    let settledAtFirstTick = -1;
    const tick = setInterval(() => {
      if (ticks++ === 0) settledAtFirstTick = settled.length;
    }, 5);
    for (const reply of replies) deliver!(null, { subject: reply, data: new Uint8Array([1]), headers: undefined } as unknown as Msg);
    try {
      await Promise.all(answered); // none rejected with TimeoutError, though most settle past their timeout
    } finally {
      clearInterval(tick);
      requests.close();
    }
    expect(settled).toEqual(Array.from({ length: COUNT }, (_, i) => i)); // in the order they were answered
    expect(settledAtFirstTick).toBeLessThan(COUNT); // the loop turned before the backlog was done
    expect(ticks).toBeGreaterThan(1);
  });
});
