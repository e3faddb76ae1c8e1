import { describe, expect, it } from 'vitest';
import { natsServer } from '../kit/nats.js';
import { encode } from '../../protocol/mod.js';
import { connectionId, pushSubjects } from '../../protocol/cluster/mod.js';
import { CloseCode } from '../../gateway/socket/mod.js';
import { closeAll, socketNode, until } from './kit.js';

describe('socket - backpressure', () => {
  it('socket - a client that stops reading is disconnected and the others carry on', async () => {
    await using ns = await natsServer();
    const limit = 256 * 1024;
    await using sn = await socketNode(ns.url, { server: { limits: { maxBackpressureBytes: limit } } });
    const slow = await sn.client('alice', 'laptop');
    const fine = await sn.client('alice', 'phone');
    try {
      slow.pause();
      const pad = 'x'.repeat(32 * 1024);
      const subject = pushSubjects.connection('sm', connectionId('alice', 'laptop'));
      // Far more than the kernel's socket buffers and the limit together.
      for (let i = 0; i < 600 && sn.server.stats().slowConsumers === 0; i++) {
        sn.nc.publish(subject, encode({ userId: 'alice', frame: { t: 'sync', collection: 'big', rev: i, pad } }));
        if (i % 50 === 49) await sn.nc.flush();
      }
      await until(() => sn.server.stats().slowConsumers === 1 && sn.server.stats().connections === 1, 'the slow client disconnected');

      // The other connection of the same user is served as before.
      expect(await fine.request({ t: 'pull', id: 1, collection: 'c', since: 0 })).toMatchObject({ t: 'changes', id: 1 });
      sn.nc.publish(pushSubjects.connection('sm', connectionId('alice', 'phone')), encode({ userId: 'alice', frame: { t: 'sync', collection: 'small', rev: 1 } }));
      await fine.take((f) => f['collection'] === 'small');

      // Once it reads again it learns why it was closed.
      slow.resume();
      expect((await slow.closed).code).toBe(CloseCode.slowConsumer);
      expect(slow.ofType('sync').length).toBeLessThan(600);
    } finally {
      await closeAll([slow, fine]);
    }
  });
});
