import { describe, expect, it } from 'vitest';
import { Kvm } from '@nats-io/kv';
import { NoRespondersError, TimeoutError } from '@nats-io/nats-core';
import { connect } from '@nats-io/transport-node';
import { natsServer } from '../kit/nats.js';
import { isCasConflict, KvRequests, type KvEntry } from '../../runtime/internal.js';
import { JetStreamRequests } from '../../runtime/mod.js';

const bytes = (...b: number[]): Uint8Array => new Uint8Array(b);
/** An entry with its value as plain numbers (a read's value may be a Buffer view). */
const plain = (e: KvEntry | null): { value: number[]; revision: number; operation: string } | null => (e === null ? null : { value: [...e.value], revision: e.revision, operation: e.operation });

describe('runtime - KV requests (the leases\' KV operations over one reply subscription)', () => {
  it('kv requests - get, create and update mean what nats.js\'s KV client means, on the same bucket, both ways', async () => {
    await using ns = await natsServer();
    const nc = await connect({ servers: ns.url });
    const requests = new JetStreamRequests(nc);
    try {
      const kv = await new Kvm(nc).create('kvr', { history: 1, allow_direct: true });
      const ours = new KvRequests(requests, 'kvr');

      expect(await ours.get('a')).toBeNull();
      const r1 = await ours.create('a', bytes(1));
      expect(plain(await ours.get('a'))).toEqual({ value: [1], revision: r1, operation: 'PUT' });
      // nats.js reads what we wrote...
      const seen = await kv.get('a');
      expect([seen?.revision, [...(seen?.value ?? [])]]).toEqual([r1, [1]]);

      // ...a second create is the compare-and-set refusal the leases read as a lost race...
      const again = await ours.create('a', bytes(2)).catch((e: unknown) => e);
      expect(isCasConflict(again)).toBe(true);
      // ...and so is an update at a stale revision; at the current one it is the next revision.
      const r2 = await ours.update('a', bytes(3), r1);
      expect(r2).toBeGreaterThan(r1);
      expect(isCasConflict(await ours.update('a', bytes(4), r1).catch((e: unknown) => e))).toBe(true);

      // We read what nats.js wrote, a delete marker included, and create over a marker as nats.js does.
      const b1 = await kv.put('b', bytes(7));
      expect(plain(await ours.get('b'))).toEqual({ value: [7], revision: b1, operation: 'PUT' });
      await kv.delete('b');
      const marker = await ours.get('b');
      expect(marker?.operation).toBe('DEL');
      const b2 = await ours.create('b', bytes(8));
      expect(b2).toBeGreaterThan(marker!.revision);
      expect((await kv.get('b'))?.operation).toBe('PUT');
    } finally {
      requests.close();
      await nc.close();
    }
  });

  it('kv requests - a bucket that does not exist is a clear error, not an empty key', async () => {
    await using ns = await natsServer();
    const nc = await connect({ servers: ns.url });
    const requests = new JetStreamRequests(nc);
    try {
      const missing = new KvRequests(requests, 'no_such_bucket', 2_000);
      // nats-server 2.9 answers no Direct Get for a stream it does not have: the read times out; later
      // servers answer that nobody responds.
      const read = await missing.get('a').catch((e: unknown) => e);
      expect(read instanceof TimeoutError || read instanceof NoRespondersError, `a read of a missing bucket fails (it failed with ${String(read)})`).toBe(true);
      // A put on a subject no stream takes has no responders.
      const write = await missing.create('a', bytes(1)).catch((e: unknown) => e);
      expect(write).toBeInstanceOf(NoRespondersError);
      expect(isCasConflict(write)).toBe(false);
    } finally {
      requests.close();
      await nc.close();
    }
  });
});
