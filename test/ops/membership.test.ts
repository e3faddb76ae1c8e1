/**
 * Live membership: a socket node started (`syncmesh node --roles socket`) while clients are connected
 * to a running cluster receives new connections within a few seconds, and the connections already
 * open stay where they are.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { connectRequest, devToken, Device } from '../kit/device.js';
import { localCluster, roleNatsEnv } from '../kit/cluster.js';
import { syncmeshNode } from '../kit/syncmesh.js';
import { waitFor } from '../kit/wait.js';

/** "Within a few seconds" of its ready line (generous for a loaded 2-core machine; typically well under 1 s). */
const JOIN_DEADLINE_MS = 5_000;
const DEVICES = 12;

describe('membership - a socket node joins a live cluster', { timeout: 120_000 }, () => {
  it('membership - a socket node started under connected clients gets new connections within seconds; open connections stay put', async () => {
    await using cluster = await localCluster({ socketNodes: 1 });
    // Every Node role process of `syncmesh cluster` runs with two malloc arenas (gateway/cli/node-flags.ts NODE_PROCESS_ENV).
    const nodes = cluster.state.processes.filter((p) => p.roles.length > 0);
    expect(nodes.length).toBeGreaterThanOrEqual(4);
    for (const p of nodes) expect((await readFile(`/proc/${p.pid}/environ`, 'utf8')).split('\0'), p.name).toContain('MALLOC_ARENA_MAX=2');
    const devices: Device[] = [];
    try {
      for (let i = 0; i < DEVICES; i++) devices.push(await Device.open(cluster.url, `member-${i % 4}`, `dev-${i}`));
      const before = new Set(devices.map((d) => d.answer.socket.url));
      expect(before.size).toBe(1);

      const secrets = JSON.parse(await readFile(join(cluster.dataDir, 'secrets.json'), 'utf8')) as { ticketSecret: string };
      await using joined = await syncmeshNode(['--roles', 'socket', '--node-id', 'socket-joined', '--socket-host', '127.0.0.1', '--metrics-port', '0'], {
        env: { ...roleNatsEnv(cluster.state, 'socket'), SYNCMESH_TICKET_SECRET: secrets.ticketSecret },
      });
      const readyAt = Date.now();
      // New connections (fresh device ids) reach the new node: the first allocated there is opened on it.
      const token = await devToken(cluster.url, 'member-new');
      let tried = 0;
      const answer = await waitFor(
        'a new connection allocated to the joined node',
        async () => {
          const a = await connectRequest(cluster.url, token, 'member-new', `fresh-${tried++}`);
          return a.socket.url === joined.info.socket ? a : undefined;
        },
        JOIN_DEADLINE_MS * 4,
        20,
      );
      const allocatedAfterMs = Date.now() - readyAt;
      const fresh = await Device.openWith(answer);
      devices.push(fresh);
      expect(fresh.frames[0]).toMatchObject({ t: 'welcome', node: 'socket-joined' });
      expect(allocatedAfterMs, `first allocation to the joined node ${allocatedAfterMs} ms after it was ready`).toBeLessThan(JOIN_DEADLINE_MS);

      // The connections open before it joined are untouched: still open, on their node, and serving.
      for (const d of devices.slice(0, DEVICES)) {
        expect(d.closed, `${d.connectionId} was not closed`).toBeUndefined();
        expect(d.frames.filter((f) => f.t === 'drain')).toEqual([]);
        const r = await d.request({ t: 'pull', collection: 'c', since: 0 });
        expect(r.t).toBe('changes');
      }
      // And the pre-existing device ids that the new node would win are only moved on their next connect.
      const moved = [];
      for (let i = 0; i < DEVICES; i++) {
        const again = await connectRequest(cluster.url, await devToken(cluster.url, `member-${i % 4}`), `member-${i % 4}`, `dev-${i}`);
        if (again.socket.url !== devices[i]!.answer.socket.url) moved.push(i);
      }
      console.info(`membership: first connection allocated to the joined node ${allocatedAfterMs} ms after its ready line (${tried} connect requests); ` +
        `${moved.length}/${DEVICES} existing device ids would land on it when they next connect, 0 were moved while connected`);
    } finally {
      for (const d of devices) d.close();
    }
  });
});
