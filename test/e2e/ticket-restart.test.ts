/**
 * Tickets cannot be replayed across a restart of their socket node, on the real local cluster (`npm start`'s
 * program, every role its own process): a ticket is used, its socket node is killed with SIGKILL, the
 * launcher restarts it under the same node id (on a new port), and the same ticket, still within its
 * lifetime, is refused with 401 by the new process: the ticket names the run of the node it was issued for,
 * and the restarted process is a new run (gateway/ticket.ts), so the replay memory lost with the killed
 * process is not needed.
 */
import { describe, expect, it } from 'vitest';
import { localCluster } from '../kit/cluster.js';
import { connectRequest, devToken } from '../kit/device.js';
import { tryUpgrade } from '../kit/upgrade.js';

describe('hostile input - ticket replay across a socket node restart', () => {
  it('tickets - a used ticket is refused with 401 by its socket node after kill -9 and restart, within the ticket lifetime', async () => {
    await using cluster = await localCluster({ socketNodes: 2 });
    const token = await devToken(cluster.url, 'replayer');
    const first = (await connectRequest(cluster.url, token, 'replayer', 'laptop')) as Awaited<ReturnType<typeof connectRequest>> & { node: string };
    const url = (u: string, ticket: string): string => `${u}?ticket=${encodeURIComponent(ticket)}`;
    expect(await tryUpgrade(url(first.socket.url, first.ticket))).toEqual({ opened: true });

    const victim = cluster.state.processes.find((p) => p.node === first.node);
    expect(victim, `a process for node ${first.node}`).toBeDefined();
    process.kill(victim!.pid, 'SIGKILL');

    // The launcher restarts the node under the same id on a new port; the distributor sends the device there again.
    let restartedUrl: string | undefined;
    const deadline = Date.now() + 25_000;
    while (restartedUrl === undefined && Date.now() < deadline) {
      const again = (await connectRequest(cluster.url, token, 'replayer', 'laptop').catch(() => undefined)) as (typeof first) | undefined;
      if (again !== undefined && again.node === first.node && again.socket.url !== first.socket.url) restartedUrl = again.socket.url;
      else await new Promise((r) => setTimeout(r, 250));
    }
    expect(restartedUrl, `node ${first.node} restarted on a new port within 25 s`).toBeDefined();
    expect(Date.now(), 'still within the ticket lifetime, so only the replay guard can refuse it').toBeLessThan(first.expiresAt);

    const replay = await tryUpgrade(url(restartedUrl!, first.ticket));
    expect(replay).toMatchObject({ opened: false, status: 401 });
    expect(JSON.parse((replay as { body: string }).body)).toMatchObject({ error: { code: 'unauthorized', problem: 'foreign', message: expect.stringMatching(/earlier run/) as unknown } });
    const fresh = await connectRequest(cluster.url, token, 'replayer', 'laptop');
    expect(await tryUpgrade(url(fresh.socket.url, fresh.ticket))).toEqual({ opened: true });
  });
});
