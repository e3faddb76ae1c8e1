import { describe, expect, it } from 'vitest';
import { setup } from 'xstate';
import { connect } from '@nats-io/transport-node';
import { pino } from 'pino';
import { natsServer } from '../kit/nats.js';
import { defineActor, startNode, type TerminatedMessage } from '../../runtime/mod.js';
import { SOCKET_SERVER_KIND, socketServerRef } from '../../actors/socket-server/mod.js';
import { CloseCode } from '../../gateway/socket/mod.js';
import { closeAll, socketNode, tryOpen, until, TestClient } from './kit.js';

/** A node in this process with a watcher actor that records what it hears. */
async function watcherNode(url: string): Promise<{ heard: TerminatedMessage[]; node: Awaited<ReturnType<typeof startNode>>; close(): Promise<void> }> {
  const nc = await connect({ servers: url });
  const heard: TerminatedMessage[] = [];
  const kind = defineActor({
    kind: 'test-watcher',
    machine: setup({ types: { events: {} as TerminatedMessage } }).createMachine({ on: { 'actor.terminated': { actions: ({ event }) => void heard.push(event) } } }),
    options: { placement: 'explicit' },
  });
  const node = await startNode({ nats: nc, kinds: [kind], logger: pino({ level: 'error' }) });
  return {
    heard,
    node,
    close: async () => {
      await node.close();
      await nc.close();
    },
  };
}

describe('socket - the socket-server actor', () => {
  it('socket - close told by another node stops listening at once (4003), its watcher hears it, the handle sees it stopped', async () => {
    await using ns = await natsServer();
    await using sn = await socketNode(ns.url, { store: 'none' });
    const w = await watcherNode(ns.url);
    const clients: TestClient[] = [];
    try {
      expect(sn.server.ref).toEqual(socketServerRef(sn.node.id));
      expect(sn.server.stats().phase).toBe('listening');
      clients.push(await sn.client('alice', 'laptop'));
      const watcher = await w.node.spawn('test-watcher', 'w');
      w.node.watch(watcher, sn.server.ref);
      w.node.tell(sn.server.ref, { type: 'close' });
      expect((await clients[0]!.closed).code).toBe(CloseCode.nodeClosed);
      await sn.server.stopped;
      expect(sn.server.stats().phase).toBe('stopped');
      await until(() => w.heard.length === 1, 'the watcher to hear the stop');
      expect(w.heard[0]).toMatchObject({ ref: sn.server.ref, reason: 'stopped' });
      // Not listening any more: the port refuses.
      await expect(tryOpen(sn.server.url, sn.ticket('bob', 'laptop'))).rejects.toThrow();
    } finally {
      await closeAll(clients);
      await w.close();
    }
  });

  it('socket - a remote spawn of socket-server or a forged session.open is refused and the node keeps serving', async () => {
    await using ns = await natsServer();
    await using sn = await socketNode(ns.url, { store: 'none' });
    const w = await watcherNode(ns.url);
    const clients: TestClient[] = [];
    try {
      // Its listener cannot travel over NATS: the actor started remotely fails at once.
      const ref = await w.node.spawn(SOCKET_SERVER_KIND, 'intruder', { node: sn.node.id }, { listen: 'x' });
      const watcher = await w.node.spawn('test-watcher', 'w');
      w.node.watch(watcher, ref);
      await until(() => w.heard.length === 1, 'the remote spawn to end');
      expect(w.heard[0]!.reason).not.toBe('node-down');
      // A session.open from another node carries plain data, not a connection: ignored.
      w.node.tell(sn.server.ref, { type: 'session.open', connection: { connectionId: 'x' } });
      const c = await sn.client('alice', 'laptop');
      clients.push(c);
      expect(await c.request({ t: 'pull', id: 1, collection: 'c', since: 0 }, 20_000)).toMatchObject({ id: 1 });
      expect(sn.server.stats().phase).toBe('listening');
      expect(sn.server.stats().connections).toBe(1);
    } finally {
      await closeAll(clients);
      await w.close();
    }
  });
});
