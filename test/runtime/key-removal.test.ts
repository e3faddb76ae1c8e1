import { describe, expect, it } from 'vitest';
import { Kvm } from '@nats-io/kv';
import { connect } from '@nats-io/transport-node';
import { natsServer } from '../kit/nats.js';
import { JetStreamRequests, KeyRemoval } from '../../runtime/mod.js';

describe('runtime - KeyRemoval', () => {
  it('key removal - removes an entry at its revision with no marker; a newer write survives; removing twice is a no-op', async () => {
    await using ns = await natsServer();
    const nc = await connect({ servers: ns.url });
    try {
      const kv = await new Kvm(nc).create('kr', { history: 1 });
      const requests = new JetStreamRequests(nc);
      const removal = new KeyRemoval(requests, 'kr');
      const a1 = await kv.put('a', new Uint8Array([1]));
      const b1 = await kv.put('b', new Uint8Array([1]));
      const a2 = await kv.put('a', new Uint8Array([2]));

      await removal.remove(b1);
      expect(await kv.get('b')).toBeNull();
      // The stale revision of a was replaced: removing it leaves the newer write alone.
      await removal.remove(a1);
      expect((await kv.get('a'))?.revision).toBe(a2);
      expect((await kv.status()).values, 'only a, and no delete marker for b').toBe(1);
      // Gone already, or never there: no error.
      await removal.remove(b1);
      await removal.remove(1e12);
      // A later write of a removed key gets a higher revision than any before it.
      expect(await kv.create('b', new Uint8Array([3]))).toBeGreaterThan(a2);
      requests.close();
    } finally {
      await nc.close();
    }
  });
});
