/**
 * Live membership on the secured multi-machine setup (issue 6): three clustered nats-servers with
 * NATS security and TLS, every role its own process, replicas 3 (test/kit/secure-cluster.ts), 40
 * devices committing and sending each other commands throughout.
 *   - A socket node started under load receives new connections: the distributor hands it new
 *     connection ids, and devices that reconnect afterwards land on it; connections already open
 *     stay where they are.
 *   - SIGTERM to a socket node under load: every one of its devices is told to move, moves to
 *     another node, and nothing is lost (0 acknowledged commits or commands; faults/scenario.ts checks).
 */
import { describe, expect, it } from 'vitest';
import { connectRequest, devToken } from '../kit/device.js';
import type { FleetDevice } from '../kit/fleet.js';
import { checkCommands, type CommandCheck } from '../kit/ledger-checks.js';
import { secureCluster, waitSocketServers } from '../kit/secure-cluster.js';
import { until } from '../kit/wait.js';
import { DEADLINE_MS, busiestSocketNode, commitSummary, msStats, startScenario, stopAndCheck, waitAll } from './scenario.js';

describe('faults - socket nodes join and leave a secured three-server cluster under load', () => {
  it('faults - a socket node started under load gets new connections, existing ones stay; SIGTERM to a socket node moves its devices, nothing lost', async () => {
    const t = Date.now();
    await using cluster = await secureCluster({ socketNodes: 2 });
    const clusterMs = Date.now() - t;
    await using sc = await startScenario(cluster, 'mb', { roundMs: 200, commands: true });
    const loadMs = Date.now() - t - clusterMs;
    const { fleet, load } = sc;

    // --- a socket node joins under load
    const before = new Map(fleet.devices.map((d) => [d, d.sockets.length]));
    const joinedAt = Date.now();
    const added = await cluster.startSocketNode('socket-3');
    await waitSocketServers(cluster.url, 3);
    const announcedMs = Date.now() - joinedAt;
    // New connections are handed the new node: connect answers for new devices, no socket opened.
    const fresh = await Promise.all(Array.from({ length: 24 }, async (_, i) => {
      const userId = `mb-new-${Date.now()}-${i}`;
      return connectRequest(cluster.url, await devToken(cluster.url, userId), userId, 'd0');
    }));
    const handedNew = fresh.filter((a) => a.socket.url === added.info.socket).length;
    expect(handedNew, `new connection ids sent to the new node ${added.info.node} (of ${fresh.length}; rendezvous sends about a third)`).toBeGreaterThan(0);
    const moved = fleet.devices.filter((d) => d.sockets.length !== before.get(d) || d.sockets.at(-1)!.closedAt !== undefined);
    expect(moved.map((d) => d.deviceId), 'devices connected before the node joined stayed put').toEqual([]);

    // --- a socket node leaves under load (SIGTERM: it drains)
    const victim = await busiestSocketNode(sc);
    const leaving = fleet.devices.filter((d) => d.client.node === victim.node);
    expect(leaving.length).toBe(victim.connections);
    const drained = new Map(leaving.map((d) => [d, d.sockets.at(-1)!]));
    const termAt = Date.now();
    process.kill(victim.pid, 'SIGTERM');
    const moveDone = (d: FleetDevice): boolean => d.client.status === 'connected' && d.sockets.at(-1) !== drained.get(d) && d.sockets.at(-1)!.welcomedAt !== undefined;
    await waitAll(leaving, `the ${leaving.length} devices of the draining node to reconnect`, moveDone, DEADLINE_MS);
    for (const d of leaving) {
      expect(drained.get(d)!.drain, `${d.deviceId} was told to move`).toBeDefined();
      expect(d.client.node, `${d.deviceId} moved off the draining node`).not.toBe(victim.node);
    }
    const reconnectMs = leaving.map((d) => d.sockets.at(-1)!.welcomedAt! - termAt);
    // Those reconnects are new connections made under load: the new node takes its share of them.
    const toNew = leaving.filter((d) => d.client.node === added.info.node).length;
    expect(toNew, `devices of the drained node that reconnected to the new node ${added.info.node} (of ${leaving.length})`).toBeGreaterThan(0);
    const recovered = Date.now();
    await waitAll(fleet.devices, 'every device to have 2 commits acknowledged after the move', (d) => load.ackedSince(d, recovered) >= 2);

    await stopAndCheck(sc);
    const commands = (): CommandCheck => checkCommands(load, fleet.devices);
    await until(() => commands().problems.length === 0, 'every sent command received and delivered', DEADLINE_MS, () => commands().problems.slice(0, 10).join('; '));
    const sent = load.sends.filter((s) => s.outcome === 'acked').length;
    console.info(
      `cluster up in ${clusterMs} ms, fleet under load ${loadMs} ms later; join: ${added.info.node} announced ${announcedMs} ms after its start began, ` +
        `handed ${handedNew}/${fresh.length} new connection ids; ` +
        `leave: SIGTERM to ${victim.node} holding ${leaving.length}/${fleet.devices.length} devices; moved after SIGTERM ${msStats(reconnectMs)}, ${toNew} of them to the new node; ` +
        `${commitSummary(load)}; ${sent} commands sent, all received and reported delivered`,
    );
  }, 180_000);
});
