/**
 * The storage's commit ceiling by partition count, by hand (docs/capacity.md section 3): a nats-server
 * cluster (three servers unless `--servers`) (file storage, three replicas: a production cluster's settings), one storage
 * "node" per server (CloudStores in this process, each connected to another server, as storage nodes spread over a
 * cluster are; a user is served by one of them) per partition count under its own prefix, and closed-loop commits of one small value (one
 * compare-and-set index write each) over many users with N in flight, for a few seconds per count.
 * Prints commits/s, latency, where the partitions' stream leaders are, and the CPU each nats-server
 * and this process used.
 *
 *   npm run build && node dist/bench/tools/partition-ceiling.js [--partitions 1,3,6] [--seconds 5] [--in-flight 256] [--replicas 3] [--servers 3] [--server-cpu 0.3]
 *
 * `--server-cpu C` (root, Linux cgroup v1 `cpu` controller) caps each nats-server at C cores, as if each
 * ran on a machine of its own of that size: on this 2-core machine three uncapped servers and the
 * storage share the same cores, so no server's own ceiling is ever reached and partitioning cannot show.
 */
import { mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { createCloudStore, storeLayouts } from '../../actors/store/mod.js';
import { startNatsCluster, type NatsCluster } from '../../runtime/mod.js';
import { newHistogram, recordMs } from '../load/hist.js';

const { values } = parseArgs({
  options: {
    partitions: { type: 'string', default: '1,3,6' },
    seconds: { type: 'string', default: '5' },
    'in-flight': { type: 'string', default: '256' },
    replicas: { type: 'string', default: '3' },
    users: { type: 'string', default: '20000' },
    'server-cpu': { type: 'string' },
    servers: { type: 'string', default: '3' },
  },
});
const serverCpu = values['server-cpu'] === undefined ? undefined : Number(values['server-cpu']);
if (serverCpu !== undefined && !(serverCpu > 0)) throw new Error(`--server-cpu: a positive number of cores, got ${values['server-cpu']}`);

const CGROUP_CPU = '/sys/fs/cgroup/cpu';

/** Puts `pid` in a cgroup of its own capped at `cores` (cgroup v1); returns its directory, to remove later. */
function capCpu(pid: number, cores: number): string {
  const dir = `${CGROUP_CPU}/syncmesh-ceiling-${pid}`;
  try {
    mkdirSync(dir, { recursive: true });
    writeFileSync(`${dir}/cpu.cfs_period_us`, '100000');
    writeFileSync(`${dir}/cpu.cfs_quota_us`, String(Math.round(cores * 100_000)));
    writeFileSync(`${dir}/cgroup.procs`, String(pid));
  } catch (err) {
    throw new Error(`--server-cpu needs root and the cgroup v1 cpu controller at ${CGROUP_CPU}: ${(err as Error).message}`);
  }
  return dir;
}
const counts = values.partitions.split(',').map(Number);
const seconds = Number(values.seconds);
const inFlight = Number(values['in-flight']);
const replicas = Number(values.replicas);
const users = Number(values.users);
const serverCount = Number(values.servers);
for (const [name, v] of Object.entries({ seconds, inFlight, replicas, users, servers: serverCount, ...Object.fromEntries(counts.map((c, i) => [`partitions[${i}]`, c])) })) {
  if (!Number.isFinite(v) || v < 1) throw new Error(`--${name}: a positive number, got ${String(v)}`);
}

/** CPU seconds a process has used (user + system), from /proc. */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

async function main(): Promise<void> {
  process.stderr.write(`starting a ${serverCount}-server nats-server cluster (replicas ${replicas})\n`);
  const cluster = await startNatsCluster(serverCount);
  const groups = serverCpu === undefined ? [] : cluster.servers.map((srv) => capCpu(srv.pid, serverCpu));
  if (serverCpu !== undefined) process.stderr.write(`each nats-server capped at ${serverCpu} cores\n`);
  try {
    await run(cluster);
  } finally {
    // The processes leave their groups when they exit; an empty group can be removed.
    await cluster[Symbol.asyncDispose]();
    for (const dir of groups) {
      try {
        rmdirSync(dir);
      } catch {
        // still busy: left for the system
      }
    }
  }
}

async function run(cluster: NatsCluster): Promise<void> {
  const conns = await Promise.all(cluster.urls.map((url) => connect({ servers: url })));
  const jsm = await jetstreamManager(conns[0]!);
  const value = { text: 'x'.repeat(100) };
  for (const partitions of counts) {
    const prefix = `ceil${partitions}`;
    const stores = await Promise.all(conns.map((nc) => createCloudStore({ nc, prefix, partitions, replicas })));
    const commit = (i: number): Promise<unknown> => {
      const u = i % users;
      return stores[u % stores.length]!.commit({ userId: `u${u}`, collection: 'c', changes: [{ key: 'k', value }] });
    };
    const hist = newHistogram();
    // Warm-up: every user's first commit (index creation), not measured.
    let n = 0;
    const warmEnd = performance.now() + 1_000;
    await Promise.all(Array.from({ length: inFlight }, async () => {
      while (performance.now() < warmEnd) await commit(n++);
    }));
    const before = { self: process.cpuUsage(), servers: cluster.servers.map((s) => cpuSeconds(s.pid)) };
    const start = performance.now();
    const end = start + seconds * 1_000;
    let done = 0;
    await Promise.all(Array.from({ length: inFlight }, async () => {
      while (performance.now() < end) {
        const t0 = performance.now();
        await commit(n++);
        recordMs(hist, performance.now() - t0);
        done++;
      }
    }));
    const elapsed = (performance.now() - start) / 1_000;
    const self = process.cpuUsage(before.self);
    const servers = cluster.servers.map((s, i) => (cpuSeconds(s.pid) - before.servers[i]!) / elapsed);
    const leaders = new Map<string, number>();
    for (const l of storeLayouts(prefix, partitions)) {
      for (const name of [l.recordStream, l.indexStream, l.commandStream]) {
        const leader = (await jsm.streams.info(name)).cluster?.leader ?? '?';
        leaders.set(leader, (leaders.get(leader) ?? 0) + 1);
      }
    }
    const ms = (us: number): string => (us / 1_000).toFixed(2);
    process.stdout.write(
      `partitions ${partitions}: ${Math.round(done / elapsed)} commits/s, p50 ${ms(hist.getValueAtPercentile(50))} ms, p99 ${ms(hist.getValueAtPercentile(99))} ms (${inFlight} in flight, ${users} users); ` +
        `CPU: this process ${(((self.user + self.system) / 1e6 / elapsed) * 100).toFixed(0)}%, nats-servers ${servers.map((c) => `${(c * 100).toFixed(0)}%`).join(' / ')}; ` +
        `stream leaders per server: ${[...leaders.values()].join(' / ')}\n`,
    );
    for (const s of stores) await s.close();
  }
  for (const nc of conns) await nc.close();
}

main().catch((err: unknown) => {
  process.stderr.write(`partition-ceiling failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
