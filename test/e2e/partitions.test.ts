/**
 * Storage partitions end to end: `syncmesh cluster --store-partitions 3` (NATS security on, so the
 * storage role's permissions must name every partition's streams). Devices of several users commit
 * and receive each other's syncs; each user's index is in its partition's stream; the welcome's
 * storage epoch names the three partitions. Stopped and started again on the same data dir: another
 * count is refused with the reason, no count at all keeps the three, and everything is read back
 * under the same epoch.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import { afterAll, describe, expect, it } from 'vitest';
import { storeLayouts, storePartition } from '../../actors/store/mod.js';
import { connectAs, localCluster } from '../kit/cluster.js';
import { Device } from '../kit/device.js';
import { childEnv, SYNCMESH_JS } from '../kit/syncmesh.js';

let dataDir = '';

afterAll(async () => {
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

const USERS = ['ada', 'bob', 'cyd', 'dee', 'eve', 'fay'];

/** The cluster command's exit code and stderr when it is refused before starting anything. */
function refusedStart(args: string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [SYNCMESH_JS, 'cluster', '--http-port', '0', '--nats-port', '0', ...args], { env: childEnv({}), stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('exit', (code) => resolve({ code, stderr }));
  });
}

describe('e2e - storage partitions', { timeout: 180_000 }, () => {
  it('e2e - a cluster of three storage partitions syncs devices, keeps each user in its partition, and starts again on its data with the same count', async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'syncmesh-partitions-'));
    let epoch: unknown;
    {
      await using cluster = await localCluster({ dataDir, socketNodes: 1, timeoutMs: 90_000, extraArgs: ['--store-partitions', '3'] });
      for (const userId of USERS) {
        const laptop = await Device.open(cluster.url, userId, 'laptop');
        const phone = await Device.open(cluster.url, userId, 'phone');
        epoch ??= laptop.frames.find((f) => f.t === 'welcome')!['epoch'];
        // A value over the inline budget goes to the record stream: both kinds of write are covered.
        const big = 'x'.repeat(5_000);
        const ans = await laptop.request({ t: 'commit', collection: 'notes', changes: [{ key: 'small', value: userId }, { key: 'big', value: big }] });
        expect(ans.t).toBe('committed');
        const sync = await phone.next((f) => f.t === 'sync' && f['collection'] === 'notes');
        expect(sync['rev']).toBe(ans['rev']);
        laptop.close();
        phone.close();
      }
      expect(epoch).toMatch(/^sm-index\*3@[0-9a-f]{16}$/);

      const nc = await connectAs(cluster.state, 'storage');
      try {
        const jsm = await jetstreamManager(nc);
        const layouts = storeLayouts('sm', 3);
        const used = new Set<number>();
        for (const userId of USERS) {
          const p = storePartition(userId, 3);
          used.add(p);
          const own = layouts[p]!;
          const info = await jsm.streams.info(own.indexStream, { subjects_filter: own.userIndex(userId) });
          expect(Object.keys(info.state.subjects ?? {})).toEqual([own.userIndex(userId)]);
        }
        expect(used.size).toBeGreaterThan(1);
      } finally {
        await nc.close();
      }
      await cluster.stop();
    }

    // Another count on the same data is refused before anything starts, saying why.
    const refused = await refusedStart(['--data-dir', dataDir, '--store-partitions', '2']);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/--store-partitions 2: the data in .* was created with 3 storage partitions/);

    {
      // No count: the data dir's three.
      await using cluster = await localCluster({ dataDir, socketNodes: 1, timeoutMs: 90_000 });
      for (const userId of USERS) {
        const tablet = await Device.open(cluster.url, userId, 'tablet');
        expect(tablet.frames.find((f) => f.t === 'welcome')!['epoch']).toBe(epoch);
        const page = await tablet.request({ t: 'pull', collection: 'notes', since: 0 });
        const changes = page['changes'] as { key: string; value: unknown }[];
        expect(Object.fromEntries(changes.map((c) => [c.key, c.value]))).toEqual({ small: userId, big: 'x'.repeat(5_000) });
        tablet.close();
      }
    }
  });
});
