/**
 * R3: stop the local cluster and start it again on the same data dir: every committed record is still there,
 * and so is a command waiting for an offline device.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Device } from '../kit/device.js';
import { localCluster } from '../kit/cluster.js';

let dataDir = '';

afterAll(async () => {
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

describe('restart - the same data dir', () => {
  it('restart - every committed record and every unacked command survive stop and start', async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'syncmesh-r3-'));
    const written = new Map<string, number>();
    let commandId = '';
    {
      await using cluster = await localCluster({ dataDir });
      const a = await Device.open(cluster.url, 'grace', 'laptop');
      for (let i = 0; i < 20; i++) {
        const ans = await a.request({ t: 'commit', collection: 'items', changes: [{ key: `k${i}`, value: i }] });
        expect(ans.t).toBe('committed');
        written.set(`k${i}`, i);
      }
      await a.request({ t: 'commit', collection: 'items', changes: [{ key: 'k3', deleted: true }] });
      written.delete('k3');
      // The phone connected once (its commit makes it a known device: commands go only to those).
      const phone = await Device.open(cluster.url, 'grace', 'phone');
      expect((await phone.request({ t: 'commit', collection: 'hello', changes: [{ key: 'phone', value: 1 }] })).t).toBe('committed');
      phone.close();
      commandId = (await a.request({ t: 'send', toDevice: 'phone', body: 'open-me' }))['commandId'] as string;
      a.close();
      await cluster.stop();
    }
    {
      await using cluster = await localCluster({ dataDir });
      const b = await Device.open(cluster.url, 'grace', 'phone');
      const cmd = await b.next((f) => f.t === 'command');
      expect(cmd).toMatchObject({ commandId, body: 'open-me' });
      const live = new Map<string, number>();
      let since = 0;
      for (;;) {
        const page = await b.request({ t: 'pull', collection: 'items', since });
        for (const c of page['changes'] as { key: string; value?: number; deleted?: boolean }[]) {
          if (c.deleted) live.delete(c.key);
          else live.set(c.key, c.value!);
        }
        since = page['rev'] as number;
        if (!page['more']) break;
      }
      expect(live).toEqual(written);
      b.close();
    }
  });
});
