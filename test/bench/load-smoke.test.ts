/**
 * The load harness runs end to end at a tiny size (50 connections, 3 s of pushes): P4 (Syncmesh and
 * its three peers), P7 (the node holding them killed) and P5 (Syncmesh and Socket.IO over Redis), and
 * its report has every row with figures in a plausible range. No timing target is asserted: targets
 * belong to `npm run bench`.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);

interface Row {
  name: string;
  values: Record<string, number>;
  error?: string;
}
interface Results {
  scaleTargets: { id: string; rows: Row[]; checks: { what: string; value?: number }[]; met: boolean }[];
}

describe('bench - load smoke', () => {
  let out: string;
  let stdout: string;
  let results: Results;

  beforeAll(async () => {
    out = await mkdtemp(join(tmpdir(), 'syncmesh-bench-smoke-'));
    const args = ['dist/bench/run.js', '--only', 'P4,P5,P7', '--connections', '50', '--clients', '50', '--rate', '50', '--load-ms', '3000', '--idle-read-s', '18', '--out', out];
    ({ stdout } = await run(process.execPath, args, { timeout: 290_000, maxBuffer: 16 * 2 ** 20 }));
    results = JSON.parse(await readFile(join(out, 'bench-custom.json'), 'utf8')) as Results;
  }, 300_000);

  afterAll(async () => {
    if (out) await rm(out, { recursive: true, force: true });
  });

  const target = (id: string): Results['scaleTargets'][number] => {
    const t = results.scaleTargets.find((r) => r.id === id);
    if (!t) throw new Error(`${id} missing from the results: ${stdout}`);
    return t;
  };
  const row = (id: string, name: string): Row => {
    const r = target(id).rows.find((x) => x.name === name);
    if (!r) throw new Error(`${id} has no row "${name}": ${stdout}`);
    expect(r.error, `${id} ${name}`).toBeUndefined();
    return r;
  };

  it('bench - P4 prints memory per connection of ours, nats-server and each peer, with MET or MISSED', () => {
    expect(stdout).toMatch(/^P4\s+idle connection memory/m);
    expect(stdout).toMatch(/=> P4 (MET|MISSED)/);
    for (const name of ['ours: socket node, just opened', 'bare uWebSockets.js', 'ws', 'Socket.IO 4']) {
      const r = row('P4', name);
      expect(r.values['n'], name).toBe(50);
      // At 50 connections the RSS difference is within the noise of a whole process (GC can give back
      // more than 50 connections take): only a finite figure of sane size is plausible, not its sign.
      expect(Number.isFinite(r.values['kb']), name).toBe(true);
      expect(Math.abs(r.values['kb']!), name).toBeLessThan(4096);
      expect(r.values['rate'], name).toBeGreaterThan(0);
    }
    for (const name of ['ours: nats-server, just opened', 'ours: socket node, idle 18 s', 'ours: nats-server, idle 18 s']) expect(Number.isFinite(row('P4', name).values['kb']), name).toBe(true);
    // nats-server's share per connection: at most one push-slot subscription; in JetStream the user index
    // (one per user of two devices) and, while the users' store actors run, their leases. Nothing per
    // connection: the session fence and the connection count store nothing (a key each brought 2.5).
    const share = /per connection (\d+\.\d\d) subscriptions, (\d+\.\d\d) JetStream subjects/.exec(stdout);
    expect(share, 'the nats-server share line').not.toBeNull();
    expect(Number(share![1])).toBeLessThanOrEqual(1);
    expect(Number(share![2])).toBeLessThanOrEqual(1.1);
  });

  it('bench - P7 brings every client of the killed node back and times it', () => {
    const r = row('P7', 'ours: clients live again');
    expect(r.values['n']).toBe(50);
    expect(r.values['s']).toBeGreaterThan(0);
    expect(r.values['s']).toBeLessThan(90);
    expect(stdout).toMatch(/=> P7 (MET|MISSED)/);
    // What held the storm up: the survivors' stalls, the kernel's dropped handshakes, CPU per reconnect.
    expect(stdout).toMatch(/during the storm: longest event-loop stall per survivor \d+ ms, \d+ ms; \d+ handshakes dropped on full accept queues/);
    const cpu = /CPU during the storm: ([\d.]+) ms per reconnect \(load processes ([\d.]+), survivors ([\d.]+), storage and gateway ([\d.]+), nats-server ([\d.]+)\)/.exec(stdout);
    expect(cpu, 'the CPU line').not.toBeNull();
    const [total, ...parts] = cpu!.slice(1).map(Number);
    expect(total).toBeGreaterThan(0);
    expect(Math.abs(parts.reduce((a, b) => a + b, 0) - total!)).toBeLessThanOrEqual(0.05);
  });

  it('bench - P5 records push latency of ours and of Socket.IO, with the checks', () => {
    for (const name of ['ours: commit -> sync at B', 'Socket.IO 4 + Redis adapter']) {
      const r = row('P5', name);
      expect(r.values['n'], name).toBeGreaterThan(0);
      expect(r.values['p50'], name).toBeGreaterThan(0);
      expect(r.values['p99'], name).toBeGreaterThanOrEqual(r.values['p50']!);
      expect(r.values['max'], name).toBeGreaterThanOrEqual(r.values['p99']!);
    }
    expect(target('P5').checks.map((c) => c.what)).toEqual(['p50', 'p99', "p99 / Socket.IO's p99", 'pushes lost']);
    // Where the slow pushes fell in time, for each side.
    for (const name of ['ours', 'Socket.IO']) expect(stdout).toMatch(new RegExp(`note: ${name}: (no push slower than \\d+ ms|\\d+ pushes slower than \\d+ ms, in \\d+ of \\d+ seconds)`));
    // Where ours spent it: the store actor's share and every node's event-loop delay, from their metrics.
    expect(stdout).toMatch(/note: where ours spent it: [\d.]+% of pushes over \d+ ms end to end; store actor: [\d.]+% of [1-9]\d* commits .*; event-loop delay p99\/max ms: storage-1 \d+\/\d+(, socket-\d+ \d+\/\d+){2}$/m);
    expect(stdout).toMatch(/^SUMMARY \(load\): \d+ of 3 targets MET/m);
  });
});
