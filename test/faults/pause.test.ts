/**
 * The session fence's R8 case for socket nodes: a socket node paused (SIGSTOP) past its membership
 * timeout, whose clients reconnect elsewhere meanwhile, then resumed (SIGCONT), must not keep a second
 * live session for any connection id that moved. On resume it notices the stall and announces every
 * session again; the newer holders answer, and it closes (`replaced`, 4100) those another node took
 * over. The fence controls buffered for it while it was frozen say the same. The fence orders sessions
 * by when they opened (gateway/socket/fence.ts), so a late announcement does not take an id back from
 * the device's newer session.
 */
import { describe, expect, it } from 'vitest';
import { CloseCode } from '../../protocol/mod.js';
import type { Device } from '../kit/device.js';
import { localCluster } from '../kit/cluster.js';
import { healthzUrl } from '../kit/fleet.js';
import { devicesOn, openDevice, waitAsync, welcomeNode } from '../kit/moving-device.js';
import { fenceHolders, socketHealth } from '../kit/server-view.js';

async function socketServers(url: string): Promise<number> {
  try {
    const body = (await (await fetch(`${url}/healthz`)).json()) as { socketServers?: number };
    return body.socketServers ?? 0;
  } catch {
    return -1;
  }
}

describe('faults - a paused socket node (SIGSTOP, SIGCONT)', () => {
  it('faults - a socket node resumed after its sessions moved closes them: never two live sessions for one connection id', async () => {
    await using cluster = await localCluster({ socketNodes: 2 });
    const victim = cluster.state.processes.find((p) => p.node === 'socket-1')!;
    const userId = `pause-${Date.now()}`;
    const moving = await devicesOn(cluster.url, userId, 'socket-1', 3, 'm');
    const opened: Device[] = [];
    try {
      process.kill(victim.pid, 'SIGSTOP');
      try {
        // The distributor stops choosing it once membership declares it down.
        await waitAsync(async () => (await socketServers(cluster.url)) === 1, 'the paused node to drop out of the distributor', 20_000);
        // Its clients give up on it and reconnect through the distributor: to the other node.
        for (const { deviceId } of moving) {
          const d = await openDevice(cluster.url, userId, deviceId);
          opened.push(d);
          expect(welcomeNode(d)).toBe('socket-2');
        }
        const sessions = opened.map((d) => ({ connectionId: d.connectionId, userId }));
        await waitAsync(async () => [...(await fenceHolders(cluster.state, sessions)).values()].filter((n) => n === 'socket-2').length === sessions.length, 'socket-2 to hold every moved id in the fence');
      } finally {
        process.kill(victim.pid, 'SIGCONT');
      }
      const resumedAt = Date.now();

      // The old sessions on the resumed node close as replaced; the new ones stay.
      for (const { device } of moving) expect((await device.closedWith(15_000)).code).toBe(CloseCode.replaced);
      const closedMs = Date.now() - resumedAt;
      const victimHealth = healthzUrl(victim.socket!);
      await waitAsync(async () => (await socketHealth(victimHealth))?.connections === 0, 'the resumed node to hold none of the moved sessions', 15_000);
      for (const d of opened) expect(d.closed, 'the sessions on socket-2 live on').toBeUndefined();
      const holders = await fenceHolders(cluster.state, opened.map((d) => ({ connectionId: d.connectionId, userId })));
      expect([...holders.values()]).toEqual(opened.map(() => 'socket-2'));
      console.info(`pause: socket-1 SIGSTOPped past its membership timeout, ${moving.length} devices moved; after SIGCONT its old sessions closed (4100) within ${closedMs} ms`);
    } finally {
      for (const { device } of moving) device.close();
      for (const d of opened) d.close();
    }
  });
});
