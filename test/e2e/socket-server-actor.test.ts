/**
 * The socket server is an actor (issue 6): on the real local cluster (every role its own process), a
 * runtime node started by the test (an "operations console") watches socket-1's `socket-server` actor
 * and tells it to drain with a plain message. The actor drains (its clients get `drain` and reconnect
 * through the distributor to another node), stops, its watcher hears `stopped`, and socket-1 leaves.
 */
import { describe, expect, it } from 'vitest';
import { setup } from 'xstate';
import { connect } from '@nats-io/transport-node';
import { pino } from 'pino';
import { defineActor, startNode, type TerminatedMessage } from '../../runtime/mod.js';
import { socketServerRef } from '../../actors/socket-server/mod.js';
import { CloseCode } from '../../protocol/mod.js';
import { connectAs, localCluster } from '../kit/cluster.js';
import { devicesOn, openDevice, until, welcomeNode } from '../kit/moving-device.js';
import { isAlive } from '../kit/pid.js';

describe('e2e - the socket server as an actor', () => {
  it('e2e - a socket server told to drain by a message from another node drains, its clients move, it stops and its watcher hears it', async () => {
    await using cluster = await localCluster({ socketNodes: 2 });
    const victim = cluster.state.processes.find((p) => p.node === 'socket-1')!;
    const userId = `actor-${Date.now()}`;
    const devices = await devicesOn(cluster.url, userId, 'socket-1', 4);

    // Another node: a watcher actor in the test process.
    const nc = await connectAs(cluster.state, 'gateway');
    const heard: TerminatedMessage[] = [];
    const watcherKind = defineActor({
      kind: 'test-watcher',
      machine: setup({ types: { events: {} as TerminatedMessage } }).createMachine({
        on: { 'actor.terminated': { actions: ({ event }) => void heard.push(event) } },
      }),
      options: { placement: 'explicit' },
    });
    const consoleNode = await startNode({ nats: nc, nodeId: `console-${process.pid}`, roles: ['gateway'], kinds: [watcherKind], logger: pino({ level: 'error' }) });
    try {
      const watcher = await consoleNode.spawn('test-watcher', 'w');
      const server = socketServerRef('socket-1');
      consoleNode.watch(watcher, server);
      consoleNode.tell(server, { type: 'drain', spreadMs: 600 });

      // Every client is told to move, and moves (through the distributor) to a live node.
      // Like a client: on `drain`, close the socket and connect again through the distributor.
      const moved = await Promise.all(
        devices.map(async ({ device, deviceId }) => {
          await device.next((f) => f.t === 'drain', 15_000);
          device.close();
          expect([CloseCode.draining, 1000, 1005]).toContain((await device.closedWith(15_000)).code);
          return openDevice(cluster.url, userId, deviceId);
        }),
      );
      try {
        for (const m of moved) expect(welcomeNode(m), 'a drained client reconnects to another node').not.toBe('socket-1');

        // The actor stopped; its watcher on the other node hears it, as `stopped` (not node-down).
        await until(() => heard.length > 0, 'the watcher to hear the socket server stop', 20_000);
        expect(heard[0]).toMatchObject({ type: 'actor.terminated', ref: server, reason: 'stopped' });
        // With its socket server gone the node leaves the cluster and its process exits.
        await until(() => !isAlive(victim.pid), 'the drained socket node process to exit', 20_000);
      } finally {
        for (const m of moved) m.close();
      }
    } finally {
      for (const { device } of devices) device.close();
      await consoleNode.close();
      await nc.close();
    }
  });
});
