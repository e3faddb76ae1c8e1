import { describe, expect, it } from 'vitest';
import { Kvm } from '@nats-io/kv';
import { connect } from '@nats-io/transport-node';
import { natsServer } from '../kit/nats.js';
import { KeyRemoval, KvRequests, LeaseStore, type HolderLiveness } from '../../runtime/internal.js';
import { JetStreamRequests } from '../../runtime/mod.js';

/** KvRequests over a real bucket, counting the requests a lease decision makes. */
class CountedKv {
  reads = 0;
  writes = 0;
  constructor(private readonly kv: KvRequests) {}
  get(key: string): ReturnType<KvRequests['get']> {
    this.reads++;
    return this.kv.get(key);
  }
  create(key: string, value: Uint8Array): Promise<number> {
    this.writes++;
    return this.kv.create(key, value);
  }
  update(key: string, value: Uint8Array, revision: number): Promise<number> {
    this.writes++;
    return this.kv.update(key, value, revision);
  }
  reset(): void {
    this.reads = this.writes = 0;
  }
}

const liveness = (live: readonly string[]): HolderLiveness => ({ isLive: (n) => live.includes(n), heardOf: () => undefined });

describe('runtime - activation leases', () => {
  it('leases - a free lease is taken with one write and no read; a taken one is read, then kept, forwarded or taken over', async () => {
    await using ns = await natsServer();
    const nc = await connect({ servers: ns.url });
    const requests = new JetStreamRequests(nc);
    try {
      const bucket = await new Kvm(nc).create('leases_t', { history: 1, allow_direct: true });
      const kv = new KvRequests(requests, 'leases_t');
      const counted = new CountedKv(kv);
      const a = new LeaseStore(counted, 'node-a', new KeyRemoval(requests, 'leases_t'));
      const b = new LeaseStore(counted, 'node-b', new KeyRemoval(requests, 'leases_t'));

      // The usual activation: nobody holds it. One write, nothing read first.
      const first = await a.acquire('store.u1', liveness(['node-a', 'node-b']));
      expect(first.ok).toBe(true);
      expect([counted.reads, counted.writes]).toEqual([0, 1]);

      // Held by a live node: the refused create, then a read that names the holder.
      counted.reset();
      expect(await b.acquire('store.u1', liveness(['node-a', 'node-b']))).toEqual({ ok: false, holder: 'node-a' });
      expect([counted.reads, counted.writes]).toEqual([1, 1]);

      // Held by a node that is down: taken over at the holder's revision, with a later epoch.
      counted.reset();
      const taken = await b.acquire('store.u1', liveness(['node-b']));
      expect(taken.ok && first.ok && taken.epoch > first.epoch).toBe(true);
      expect([counted.reads, counted.writes]).toEqual([1, 2]);
      const entry = await kv.get('store.u1');
      expect(entry?.revision).toBe(taken.ok ? taken.rev : -1);

      // A stale lease of our own (a crash before its release) is taken again.
      counted.reset();
      const again = await b.acquire('store.u1', liveness(['node-b']));
      expect(again.ok && taken.ok && again.epoch > taken.epoch).toBe(true);

      // Released: the message is removed, so the next activation is one write again.
      if (again.ok) await b.release('store.u1', again.rev);
      counted.reset();
      expect((await a.acquire('store.u1', liveness(['node-a', 'node-b']))).ok).toBe(true);
      expect([counted.reads, counted.writes]).toEqual([0, 1]);

      // Over a delete marker (a KV delete by another client) the create still succeeds.
      await bucket.put('store.u2', new Uint8Array([1]));
      await bucket.delete('store.u2');
      expect((await a.acquire('store.u2', liveness(['node-a']))).ok).toBe(true);
    } finally {
      requests.close();
      await nc.close();
    }
  });

  it('leases - two nodes racing for a free lease: exactly one holds it, the other is told who', async () => {
    await using ns = await natsServer();
    const nc = await connect({ servers: ns.url });
    const requests = new JetStreamRequests(nc);
    try {
      await new Kvm(nc).create('leases_r', { history: 1, allow_direct: true });
      const kv = new KvRequests(requests, 'leases_r');
      const live = liveness(['node-a', 'node-b']);
      for (let i = 0; i < 20; i++) {
        const key = `store.race${i}`;
        const [x, y] = await Promise.all([
          new LeaseStore(kv, 'node-a', new KeyRemoval(requests, 'leases_r')).acquire(key, live),
          new LeaseStore(kv, 'node-b', new KeyRemoval(requests, 'leases_r')).acquire(key, live),
        ]);
        const winners = [x, y].filter((r) => r.ok);
        expect(winners).toHaveLength(1);
        const loser = [x, y].find((r) => !r.ok);
        const holder = x.ok ? 'node-a' : 'node-b';
        expect(loser).toEqual({ ok: false, holder });
      }
    } finally {
      requests.close();
      await nc.close();
    }
  });
});
