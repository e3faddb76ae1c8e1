/**
 * Health and metrics of every node of a running local cluster (`syncmesh cluster`): after real traffic
 * (commits, a conflict, pulls, pushes, device commands, rate-limited bursts), every node's /metrics
 * (listed in cluster.json) shows the metrics of its roles with live values, /readyz answers 200 on
 * every node, and a socket node that drains answers 503 saying so.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectRequest, devToken, Device } from '../kit/device.js';
import { localCluster, roleNatsEnv, type LocalCluster } from '../kit/cluster.js';
import { metricSum, metricValue, syncmeshNode } from '../kit/syncmesh.js';
import { waitFor } from '../kit/wait.js';

let cluster: LocalCluster;
const open: Device[] = [];

beforeAll(async () => {
  cluster = await localCluster({ socketNodes: 2 });
}, 90_000);

afterAll(async () => {
  for (const d of open) d.close();
  await cluster?.[Symbol.asyncDispose]();
}, 60_000);

async function device(userId: string, deviceId: string): Promise<Device> {
  const d = await Device.open(cluster.url, userId, deviceId);
  open.push(d);
  return d;
}

async function scrape(url: string): Promise<string> {
  const res = await fetch(url);
  expect(res.status, url).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
  return res.text();
}

function processOf(name: string): LocalCluster['state']['processes'][number] {
  const p = cluster.state.processes.find((q) => q.name === name);
  if (!p) throw new Error(`no process ${name} in cluster.json`);
  return p;
}

// Real traffic and scrapes of every node: generous for a loaded shared machine.
describe('metrics - every node of a running cluster', { timeout: 120_000 }, () => {
  it('metrics - after traffic, each node\'s /metrics shows its roles\' metrics with live values; /readyz is 200 everywhere', async () => {
    // Traffic: two devices of one user on different socket nodes, so pushes and asks cross nodes.
    const a = await device('ops-alice', 'laptop');
    const token = await devToken(cluster.url, 'ops-alice');
    let otherId: string | undefined;
    for (let i = 0; i < 64 && otherId === undefined; i++) {
      if ((await connectRequest(cluster.url, token, 'ops-alice', `phone-${i}`)).socket.url !== a.answer.socket.url) otherId = `phone-${i}`;
    }
    const b = await device('ops-alice', otherId!);
    const first = await a.request({ t: 'commit', collection: 'notes', changes: [{ key: 'k', value: 1 }] });
    await a.request({ t: 'commit', collection: 'notes', changes: [{ key: 'k', value: 2, base: first['rev'] }] });
    const stale = await a.request({ t: 'commit', collection: 'notes', changes: [{ key: 'k', value: 3, base: first['rev'] }] });
    expect(stale['conflicts']).toHaveLength(1);
    await b.next((f) => f.t === 'sync');
    await b.request({ t: 'pull', collection: 'notes', since: 0 });
    const sent = await a.request({ t: 'send', toDevice: otherId!, body: { open: 'https://example.org' } });
    const cmd = await b.next((f) => f.t === 'command' && f['commandId'] === sent['commandId']);
    b.send({ t: 'ack', commandId: cmd['commandId'] });
    await a.next((f) => f.t === 'delivered');
    // A burst over the socket's frame limit (burst 200), and over the distributor's per-user limit (20/s).
    // (Bursts are repeated until refused: on a loaded machine one burst may arrive slower than the bucket refills.)
    for (let round = 0; round < 5 && !a.frames.some((f) => f.t === 'error' && f['code'] === 'rate_limited'); round++) {
      for (let i = 0; i < 400; i++) a.send({ t: 'pull', id: 10_000 + round * 1000 + i, collection: 'notes', since: 0 });
      await a.next((f) => f['id'] === 10_000 + round * 1000 + 399, 30_000);
    }
    expect(a.frames.some((f) => f.t === 'error' && f['code'] === 'rate_limited'), 'a frame refused by the socket rate limit').toBe(true);
    let refused = false;
    for (let round = 0; round < 10 && !refused; round++) {
      const burst = await Promise.all(Array.from({ length: 60 }, (_, i) => fetch(`${cluster.url}/v1/connect`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        body: JSON.stringify({ userId: 'ops-alice', deviceId: `burst-${round}-${i}` }),
      }).then((r) => r.status, () => 0))); // a request lost in the burst (keep-alive race under load) is just not a refusal
      refused = burst.includes(429);
    }
    expect(refused, 'a connect request refused by the per-user rate limit').toBe(true);

    // Storage node, and the push server (its own process).
    const storage = await scrape(processOf('storage-1').metrics!);
    expect(metricValue(storage, 'syncmesh_store_commits_total', 'outcome="ok"')).toBeGreaterThanOrEqual(3);
    expect(metricValue(storage, 'syncmesh_store_conflicts_total')).toBeGreaterThanOrEqual(1);
    expect(metricValue(storage, 'syncmesh_store_pulls_total', 'outcome="ok"')).toBeGreaterThanOrEqual(1);
    expect(metricValue(storage, 'syncmesh_store_commands_total', 'op="send",outcome="ok"')).toBeGreaterThanOrEqual(1);
    expect(metricValue(storage, 'syncmesh_store_commands_total', 'op="ack",outcome="ok"')).toBeGreaterThanOrEqual(1);
    expect(metricValue(storage, 'syncmesh_store_commit_seconds_count')).toBeGreaterThanOrEqual(3);
    expect(metricValue(storage, 'syncmesh_store_commit_seconds_bucket', 'le="+Inf"')).toBeGreaterThanOrEqual(3);
    expect(metricValue(storage, 'syncmesh_store_pull_seconds_count')).toBeGreaterThanOrEqual(1);
    const push = await scrape(processOf('push-1').metrics!);
    expect(metricValue(push, 'syncmesh_push_published_total')).toBeGreaterThanOrEqual(3);
    expect(metricValue(storage, 'syncmesh_runtime_active_actors', 'kind="store"')).toBeGreaterThanOrEqual(1);
    expect(storage).toMatch(/^syncmesh_runtime_mailbox_depth\{kind="store",node="storage-1"\} \d+$/m);
    expect(storage, 'a node shows the metrics of its own roles only').not.toContain('syncmesh_socket_connections');
    expect(storage).not.toContain('syncmesh_distributor_allocations_total');

    // Gateway.
    const gateway = await scrape(processOf('gateway-1').metrics!);
    expect(metricValue(gateway, 'syncmesh_distributor_allocations_total')).toBeGreaterThanOrEqual(3);
    expect(metricValue(gateway, 'syncmesh_distributor_refusals_total', 'code="rate_limited",route="connect"')).toBeGreaterThanOrEqual(1);
    expect(metricValue(gateway, 'syncmesh_rate_limited_total', 'layer="distributor"')).toBeGreaterThanOrEqual(1);
    expect(metricValue(gateway, 'syncmesh_runtime_active_actors', 'kind="distributor"')).toBe(1);
    expect(gateway).not.toContain('syncmesh_store_commits_total');

    // Socket nodes (the two devices are on different ones: sum them).
    const sockets = await Promise.all(cluster.state.processes.filter((p) => p.socket).map((p) => scrape(p.metrics!)));
    const sum = (name: string): number => sockets.reduce((n, t) => n + metricSum(t, name), 0);
    expect(sum('syncmesh_socket_connections')).toBeGreaterThanOrEqual(2);
    expect(sum('syncmesh_socket_sessions')).toBeGreaterThanOrEqual(2);
    expect(sum('syncmesh_socket_opened_total')).toBeGreaterThanOrEqual(2);
    expect(sum('syncmesh_socket_pushes_delivered_total')).toBeGreaterThanOrEqual(2);
    expect(sum('syncmesh_push_delivery_seconds_count')).toBeGreaterThanOrEqual(2);
    expect(sum('syncmesh_runtime_remote_ask_seconds_count')).toBeGreaterThanOrEqual(5);
    expect(sockets.reduce((n, t) => n + (metricValue(t, 'syncmesh_rate_limited_total', 'layer="socket"') ?? 0), 0)).toBeGreaterThanOrEqual(1);

    // Every node: up, connected to NATS, members, actors and mailboxes, process metrics; /readyz 200.
    for (const p of cluster.state.processes) {
      const text = await scrape(p.metrics!);
      expect(metricValue(text, 'syncmesh_up'), p.name).toBe(1);
      expect(metricValue(text, 'syncmesh_nats_connected'), p.name).toBe(1);
      expect(metricValue(text, 'syncmesh_nats_reconnects_total'), p.name).toBe(0);
      expect(metricValue(text, 'syncmesh_runtime_members'), p.name).toBeGreaterThanOrEqual(4);
      expect(metricValue(text, 'syncmesh_runtime_activations_total'), p.name).toBeGreaterThan(0);
      expect(text, p.name).toMatch(/^process_resident_memory_bytes\{node="[^"]+"\} \d+/m);
      const ready = await fetch(p.readyz!);
      const body = (await ready.json()) as { status: string; checks: Record<string, string> };
      expect({ name: p.name, status: ready.status, body: body.status }).toEqual({ name: p.name, status: 200, body: 'ready' });
      expect(body.checks).toMatchObject({ nats: 'ok', jetstream: 'ok', draining: 'ok' });
      if (p.socket) expect(body.checks['socket']).toBe('ok');
      if (p.http) expect(body.checks['gateway']).toBe('ok');
      expect((await fetch(p.healthz!)).status).toBe(200);
    }
    expect((await fetch(processOf('gateway-1').metrics!.replace('/metrics', '/nope'))).status).toBe(404);
  });

  it('health - a socket node answers /readyz 503 "draining" from SIGTERM until it leaves', async () => {
    const secrets = JSON.parse(await readFile(join(cluster.dataDir, 'secrets.json'), 'utf8')) as { ticketSecret: string };
    await using extra = await syncmeshNode(['--roles', 'socket', '--node-id', 'socket-extra', '--socket-host', '127.0.0.1', '--metrics-port', '0', '--drain-spread-ms', '10000'], {
      env: { ...roleNatsEnv(cluster.state, 'socket'), SYNCMESH_TICKET_SECRET: secrets.ticketSecret },
    });
    expect((await fetch(extra.info.readyz!)).status).toBe(200);
    // A device on it keeps it draining until the server closes it (drain grace).
    const token = await devToken(cluster.url, 'ops-bob');
    const deviceId = await waitFor('a connection allocated to the new node', async () => {
      for (let i = 0; i < 32; i++) if ((await connectRequest(cluster.url, token, 'ops-bob', `d-${i}`)).socket.url === extra.info.socket) return `d-${i}`;
      return undefined;
    });
    await device('ops-bob', deviceId);
    extra.process.kill('SIGTERM');
    const draining = await waitFor('/readyz 503 on the draining node', async () => {
      const res = await fetch(extra.info.readyz!);
      return res.status === 503 ? ((await res.json()) as { status: string; checks: Record<string, string>; problems: string[] }) : undefined;
    });
    expect(draining.status).toBe('not_ready');
    expect(draining.checks['draining']).toMatch(/^draining: /);
    expect(draining.problems).toContain(`draining: ${draining.checks['draining']}`);
    expect(metricValue(await scrape(extra.info.metrics!), 'syncmesh_socket_draining')).toBe(1);
    expect(await extra.stop()).toBe(0);
  });
});
