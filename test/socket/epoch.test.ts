/**
 * The storage epoch in `welcome` (docs/protocol.md 3.1): `<data stream>@<its creation time>`, the same
 * on every socket node, kept while the stream lives (restarts included), new when it is recreated, and
 * absent while the stream does not exist yet.
 */
import { jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { describe, expect, it } from 'vitest';
import { createCloudStore } from '../../actors/store/mod.js';
import { natsServer } from '../kit/nats.js';
import { closeAll, socketNode, type Frame, type SocketNode } from './kit.js';

/** The epoch the index stream `sm-index` has now, read straight from JetStream. */
async function streamEpoch(nc: NatsConnection): Promise<string> {
  const info = await (await jetstreamManager(nc)).streams.info('sm-index');
  return `sm-index@${info.created}`;
}

/** streamEpoch, retried until JetStream answers (it needs a moment after a restart). */
async function streamEpochEventually(nc: NatsConnection, timeoutMs = 15_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await streamEpoch(nc);
    } catch (err) {
      if (Date.now() > deadline) throw new Error(`JetStream did not answer a stream info request within ${timeoutMs} ms`, { cause: err });
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

let serial = 0;

/** The welcome a new connection to `sn` gets (the connection is closed again). */
async function welcome(sn: SocketNode): Promise<Frame> {
  const c = await sn.client('epoch-user', `device-${serial++}`);
  try {
    return c.frames.find((f) => f['t'] === 'welcome')!;
  } finally {
    await closeAll([c]);
  }
}

/** Opens connections to `sn` until a welcome's epoch passes `ok`; each attempt is a new connection. */
async function welcomeEpochUntil(sn: SocketNode, ok: (epoch: unknown) => boolean, what: string, timeoutMs = 15_000): Promise<unknown> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const epoch = (await welcome(sn))['epoch'];
    if (ok(epoch)) return epoch;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last welcome epoch ${String(epoch)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('socket - storage epoch', () => {
  it('socket - welcome carries the same storage epoch on two socket nodes', async () => {
    await using ns = await natsServer();
    // The first node hosts the storage (it creates the stream); the second has none of its own.
    await using withStore = await socketNode(ns.url);
    await using without = await socketNode(ns.url, { store: 'none' });
    const expected = await streamEpoch(withStore.nc);
    const a = await welcome(withStore);
    const b = await welcome(without);
    // (A `fallback` offer for the other node may ride along: test/socket/fallback.test.ts.)
    expect(a).toMatchObject({ t: 'welcome', connectionId: expect.any(String), node: withStore.node.id, epoch: expected });
    expect(b['epoch']).toBe(expected);
    expect(b['node']).toBe(without.node.id);
  });

  it('socket - a node started before the stream exists sends no epoch, then learns it once the stream is created', async () => {
    await using ns = await natsServer();
    await using sn = await socketNode(ns.url, { store: 'none' });
    expect('epoch' in (await welcome(sn))).toBe(false);
    const nc = await connect({ servers: ns.url });
    try {
      const store = await createCloudStore({ nc });
      await store.close();
      const epoch = await welcomeEpochUntil(sn, (e) => e !== undefined, 'an epoch after the storage created its stream');
      expect(epoch).toBe(await streamEpoch(nc));
    } finally {
      await nc.close();
    }
  });

  it('socket - the epoch stays across a nats-server restart on the same data and changes when the stream is recreated', async () => {
    await using ns = await natsServer();
    await using sn = await socketNode(ns.url);
    const nc = await connect({ servers: ns.url, maxReconnectAttempts: -1, reconnectTimeWait: 100 });
    try {
      const before = (await welcome(sn))['epoch'];
      expect(before).toBe(await streamEpoch(nc));

      await ns.restart();
      // The stream's creation time is kept on disk, so the node, reading it again after its reconnect,
      // finds the same epoch.
      expect(await streamEpochEventually(nc)).toBe(before);
      expect(await welcomeEpochUntil(sn, (e) => e !== undefined, 'an epoch after the restart')).toBe(before);

      // A wiped store, as far as clients can tell: the stream is deleted and created again.
      const jsm = await jetstreamManager(nc);
      await jsm.streams.delete('sm-index');
      const store = await createCloudStore({ nc });
      await store.close();
      const after = await welcomeEpochUntil(sn, (e) => e !== undefined && e !== before, 'a new epoch after the stream was recreated');
      expect(after).toBe(await streamEpoch(nc));
    } finally {
      await nc.close();
    }
  });

  it("socket - with storage partitions the epoch covers every partition's data stream: one of them recreated gives a new epoch", async () => {
    await using ns = await natsServer();
    await using sn = await socketNode(ns.url, { store: 'none', server: { storePartitions: 3 } });
    expect('epoch' in (await welcome(sn))).toBe(false);
    const nc = await connect({ servers: ns.url });
    try {
      await (await createCloudStore({ nc, partitions: 3 })).close();
      const before = await welcomeEpochUntil(sn, (e) => e !== undefined, 'an epoch once the partitions exist');
      expect(before).toMatch(/^sm-index\*3@[0-9a-f]{16}$/);
      expect((await welcome(sn))['epoch']).toBe(before);

      const jsm = await jetstreamManager(nc);
      await jsm.streams.delete('sm-index-1');
      // Partition 1 gone: no epoch (a client must not keep a cache of a store that is gone), then a new one.
      await (await createCloudStore({ nc, partitions: 3 })).close();
      const after = await welcomeEpochUntil(sn, (e) => e !== undefined && e !== before, 'a new epoch after partition 1 was recreated');
      expect(after).toMatch(/^sm-index\*3@[0-9a-f]{16}$/);
    } finally {
      await nc.close();
    }
    await expect(socketNode(ns.url, { store: 'none', server: { storePartitions: 65 } })).rejects.toThrow(/storePartitions 65 cannot name the storage streams/);
  });
});
