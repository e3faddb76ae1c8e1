/**
 * A fenced index write whose answer is lost (writes.ts): its retry repeats a write JetStream already
 * applied, which the compare-and-set refuses; the write reads the subject's last message and recognises
 * its own attempt by its write id (a header nats-server does not track). The write succeeds once, at one
 * sequence, on any server version.
 */
import { describe, expect, it } from 'vitest';
import { TimeoutError } from '@nats-io/nats-core';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { StaleWriteError } from '../../actors/store/mod.js';
import { streamReader } from '../../actors/store/reader.js';
import { StreamRoom } from '../../actors/store/room.js';
import { writeIndex, type WriteContext } from '../../actors/store/writes.js';
import { JetStreamRequests, type PubAck, type PublishOptions } from '../../runtime/mod.js';
import { natsServer } from '../kit/nats.js';

/** Request channel whose next `lose` publishes are applied by JetStream but answered with a timeout. */
class LostAnswers extends JetStreamRequests {
  lose = 0;
  /** Runs after a lost answer, before the caller retries (another writer, say). */
  meanwhile: (() => Promise<void>) | undefined;
  attempts = 0;

  override async publish(subject: string, payload: Uint8Array, options: PublishOptions): Promise<PubAck> {
    this.attempts++;
    const ack = await super.publish(subject, payload, options);
    if (this.lose > 0) {
      this.lose--;
      await this.meanwhile?.();
      throw new TimeoutError();
    }
    return ack;
  }
}

async function setup(nc: NatsConnection, direct: boolean): Promise<{ ctx: WriteContext; requests: LostAnswers }> {
  const jsm = await jetstreamManager(nc);
  await jsm.streams.add({ name: 'IX', subjects: ['ix.>'], max_msgs_per_subject: 1, allow_direct: true, duplicate_window: 60_000_000_000 });
  const requests = new LostAnswers(nc);
  const io = { timeoutMs: 2_000, retryForMs: 5_000 };
  const room = new StreamRoom(jsm, 'IX');
  const ctx: WriteContext = { requests, ...io, rooms: { records: room, index: room, commands: room }, indexes: streamReader(requests, 'IX', { direct, ...io }) };
  return { ctx, requests };
}

const bytes = (n: number): Uint8Array => new Uint8Array([n, n, n]);

describe('store - an index write whose answer was lost', () => {
  for (const direct of [true, false]) {
    it(`store - the retry of an applied index write succeeds at the first attempt's sequence (${direct ? 'Direct Get' : 'leader Message Get'} read)`, async () => {
      await using ns = await natsServer();
      const nc = await connect({ servers: ns.url });
      const { ctx, requests } = await setup(nc, direct);
      try {
        const first = await writeIndex(ctx, 'an index', 'ix.a', bytes(1), 0);
        expect(first).toBe(1);
        requests.lose = 1;
        const seq = await writeIndex(ctx, 'an index', 'ix.a', bytes(2), first);
        expect(requests.attempts, 'the lost answer was retried').toBe(3);
        expect(seq).toBe(2);
        // Written once: the stream's last sequence is the one reported.
        const info = await (await jetstreamManager(nc)).streams.info('IX');
        expect(info.state.last_seq).toBe(2);
        const last = await ctx.indexes.last('ix.a');
        expect([...last!.data]).toEqual([2, 2, 2]);
      } finally {
        requests.close();
        await nc.close();
      }
    });
  }

  it('store - when another writer wrote between the lost answer and the retry, the write is refused as stale', async () => {
    await using ns = await natsServer();
    const nc = await connect({ servers: ns.url });
    const { ctx, requests } = await setup(nc, true);
    const other = new JetStreamRequests(nc);
    try {
      const first = await writeIndex(ctx, 'an index', 'ix.b', bytes(1), 0);
      requests.lose = 1;
      requests.meanwhile = async () => {
        // The other writer read the lost write (sequence 2) and wrote after it.
        await other.publish('ix.b', bytes(9), { timeoutMs: 2_000, expectLastSubjectSequence: 2 });
      };
      const outcome = await writeIndex(ctx, 'an index', 'ix.b', bytes(2), first).catch((e: unknown) => e);
      // The retry is refused, and the last message is the other writer's: nothing tells the lost write was
      // applied (writes.ts), so it is reported stale, on every server version (the write carries no
      // Nats-Msg-Id, so 2.9 has no duplicate to answer with). A client's retry of the commit is then
      // recognised by its txid.
      expect(outcome).toBeInstanceOf(StaleWriteError);
      expect([...(await ctx.indexes.last('ix.b'))!.data]).toEqual([9, 9, 9]);
    } finally {
      other.close();
      requests.close();
      await nc.close();
    }
  });
});
