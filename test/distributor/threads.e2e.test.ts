/**
 * The gateway's HTTP API on several threads of one process (`--http-threads`), end to end: a local
 * cluster whose gateway runs 3 threads. Requests over fresh connections reach more than one thread
 * (GET /healthz says which answered); dev tokens from one thread are accepted by the others; every
 * thread allocates from the actor's table (tickets open WebSockets on the socket nodes); and the
 * allocations every thread answered reach the main thread's metrics.
 */
import { describe, expect, it } from 'vitest';
import { request } from 'node:http';
import { localCluster } from '../kit/cluster.js';
import { Device } from '../kit/device.js';
import { roleNode } from '../kit/role-node.js';

/** GET /healthz on a connection of its own (no keep-alive: the kernel picks a thread per connection). */
function healthOnce(url: string): Promise<{ status: string; socketServers?: number; thread?: number }> {
  return new Promise((resolve, reject) => {
    const req = request(`${url}/healthz`, { agent: false, headers: { connection: 'close' } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve(JSON.parse(body) as { status: string; thread?: number }));
    });
    req.on('error', reject);
    req.end();
  });
}

function counter(metrics: string, name: string): number {
  let total = 0;
  for (const line of metrics.split('\n')) if (line.startsWith(`${name}{`) || line.startsWith(`${name} `)) total += Number(line.slice(line.lastIndexOf(' ') + 1));
  return total;
}

describe('distributor on several HTTP threads (--http-threads 3)', () => {
  it('spreads connections over its threads, and each allocates, signs and counts alike', async () => {
    await using cluster = await localCluster({ socketNodes: 2, extraArgs: ['--http-threads', '3'] });
    const url = cluster.url;
    const seen = new Set<number>();
    for (let i = 0; i < 120 && seen.size < 3; i++) {
      const h = await healthOnce(url);
      expect(h.status).toBe('ok');
      expect(h.socketServers).toBe(2); // every thread has the actor's table
      seen.add(h.thread!);
    }
    // 3 threads and 120 fresh connections: more than one thread answered (all three, almost surely).
    expect(seen.size).toBeGreaterThan(1);

    const gateway = cluster.state.processes.find((p) => p.roles.includes('gateway'))!;
    const before = counter(await (await fetch(gateway.metrics!)).text(), 'syncmesh_distributor_allocations_total');
    // Each device: a dev token, a connect and a WebSocket with its ticket, over fresh connections,
    // so tokens signed by one thread are checked by another.
    const devices = await Promise.all(Array.from({ length: 12 }, (_, i) => Device.open(url, `threads-user-${i}`, 'd1')));
    try {
      for (const d of devices) expect(d.frames[0]?.t).toBe('welcome');
      // The threads report their answers every 500 ms: wait for all 12.
      const deadline = Date.now() + 5_000;
      let after = before;
      while (Date.now() < deadline) {
        after = counter(await (await fetch(gateway.metrics!)).text(), 'syncmesh_distributor_allocations_total');
        if (after - before >= 12) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(after - before).toBe(12);
    } finally {
      for (const d of devices) d.ws.close();
    }

    // A gateway node of its own with 2 threads: it serves, and SIGTERM stops its threads and the process.
    const gw = await roleNode({ dataDir: cluster.dataDir, nats: cluster.state.nats, nodeId: 'gateway-2', roles: ['gateway'], args: ['--http-threads', '2', '--http-host', '127.0.0.1', '--http-port', '0'] });
    try {
      const h = await healthOnce(gw.info.http!);
      expect(h.status).toBe('ok');
      expect([1, 2]).toContain(h.thread);
      gw.process.kill('SIGTERM');
      expect(await gw.exited).toBe(0); // a thread left running would hold the process until the test times out
    } finally {
      await gw[Symbol.asyncDispose]();
    }
  }, 60_000);
});
