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

  it('socket - a node seen down only for a moment (paused past the heartbeat timeout, then resumed) keeps its keys and sessions', async () => {
    await using ns = await natsServer();
    await using survivor = await socketNode(ns.url, { nodeId: '0000-survivor', store: 'none' });
    await using paused = await childSocketNode(ns.url);
    const kv = await new Kvm(survivor.nc).open('sm_sessions');
    const clients: TestClient[] = [];
    try {
      const ids = ['a', 'b'].map((d) => connectionId('flap', d));
      for (const d of ['a', 'b']) clients.push(await paused.client('flap', d));
      await until(async () => (await Promise.all(ids.map((k) => kv.get(k)))).every((e) => e?.operation === 'PUT'), 'both sessions claimed');
      const claimedAt = Date.now();
      // Old enough for a sweep to take them (5 s) if it ran while the node looked down.
      await until(() => Date.now() - claimedAt > 5_000, 'the claims to age', 10_000);
      const isMember = (): boolean => survivor.node.members().some((m) => m.nodeId === paused.nodeId);
      paused.process.kill('SIGSTOP');
      try {
        await until(() => !isMember(), 'the survivor to see the paused node down', 10_000);
      } finally {
        paused.process.kill('SIGCONT');
      }
      await until(isMember, 'the node to be seen live again', 10_000);
      // The sweep still runs (10 s after the down) and finds the node live: nothing reclaimed.
      await until(() => survivor.server.stats().fenceSweeps >= 1, 'the sweep after the down', 20_000);
      expect(survivor.server.stats().fenceReclaimed).toBe(0);
      expect((await Promise.all(ids.map((k) => kv.get(k)))).map((e) => e?.operation)).toEqual(['PUT', 'PUT']);
      expect(clients.every((c) => c.isOpen)).toBe(true);
    } finally {
      await closeAll(clients);
    }
  });
});
