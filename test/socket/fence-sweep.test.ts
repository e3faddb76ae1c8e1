import { describe, expect, it } from 'vitest';
import { Kvm } from '@nats-io/kv';
import { natsServer } from '../kit/nats.js';
import { connectionId } from '../../protocol/cluster/mod.js';
import { childSocketNode } from './child.js';
import { closeAll, socketNode, until, type TestClient } from './kit.js';

describe('socket - session fence cleaning', () => {
  it('socket - the keys of a socket node that died are reclaimed by a live one; live sessions keep theirs', async () => {
    await using ns = await natsServer();
    // The sweep runs on the live socket node with the lowest id.
    await using survivor = await socketNode(ns.url, { nodeId: '0000-survivor', store: 'none' });
    await using doomed = await childSocketNode(ns.url);
    const kv = await new Kvm(survivor.nc).open('sm_sessions');
    const clients: TestClient[] = [];
    try {
      const dead = ['a', 'b', 'c'].map((d) => connectionId('sweep', d));
      for (const d of ['a', 'b', 'c']) clients.push(await doomed.client('sweep', d));
      const keep = await survivor.client('sweep', 'kept');
      clients.push(keep);
      const kept = connectionId('sweep', 'kept');
      await until(async () => (await Promise.all([...dead, kept].map((k) => kv.get(k)))).every((e) => e?.operation === 'PUT'), 'every session claimed');
      const claimedAt = Date.now();
      // Claims younger than the sweep's minimum age (5 s) are left alone: a node that just joined may not be known yet.
      await until(() => Date.now() - claimedAt > 2_500, 'the claims to age');
      doomed.process.kill('SIGKILL');
      await until(async () => (await Promise.all(dead.map((k) => kv.get(k)))).every((e) => e === null), 'the dead node keys reclaimed', 20_000);
      expect((await kv.get(kept))?.operation).toBe('PUT');
      // The sweep counts its reclaims once it has released every key: the keys can be gone a moment before.
      await until(() => survivor.server.stats().fenceReclaimed >= 3, 'the sweep to count its reclaims', 5_000);
      expect(survivor.server.stats().fenceReclaimed).toBe(3);
      expect((await kv.status()).values, 'nothing but the live session left in the bucket').toBe(1);
      expect(keep.isOpen).toBe(true);
    } finally {
      await closeAll(clients);
    }
  });
});
