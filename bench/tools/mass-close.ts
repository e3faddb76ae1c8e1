/**
 * A mass disconnect, by hand: N connections on one socket node, then every client closes at once (a
 * load balancer restart, a network partition healing into resets). Prints the socket node's longest
 * event-loop stall while it closed them, and whether the node self-fenced (a stall past its
 * `downAfterMs` makes it resync every client it still holds).
 *
 *   npm run build && node dist/bench/tools/mass-close.js [--connections 15000] [--idle-ms 0]
 *       [--profile-dir DIR]
 *
 * `--idle-ms`: time the connections stay open first (sessions hibernate after 10 s idle).
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { benchLogger } from '../log.js';
import { Fleet } from '../load/fleet.js';
import { massCloseStalls, waitMetric } from '../load/node-metrics.js';
import { startBenchCluster } from '../load/syncmesh-cluster.js';
import { OPEN_CONCURRENCY, OPEN_TIMEOUT_MS, settle, syncmeshUsers } from '../suites/load-context.js';

const { values } = parseArgs({
  options: {
    connections: { type: 'string', default: '15000' },
    'idle-ms': { type: 'string', default: '0' },
    'profile-dir': { type: 'string' },
  },
});
const n = Number(values.connections);
const idleMs = Number(values['idle-ms']);
if (!Number.isInteger(n) || n < 1 || !Number.isFinite(idleMs) || idleMs < 0) {
  process.stderr.write('mass-close: --connections must be a positive integer and --idle-ms a number of ms >= 0\n');
  process.exit(2);
}
const log = benchLogger('mass-close');
const profile = values['profile-dir'] ? ['--cpu-prof', '--cpu-prof-dir', values['profile-dir']] : [];
const cluster = await startBenchCluster(log, { profileExecArgv: profile });
let fleet: Fleet | undefined;
try {
  const node = await cluster.addSocketNode();
  const metrics = node.info.metrics;
  if (metrics === undefined) throw new Error('the socket node did not report its metrics address');
  await cluster.waitSocketServers(1);
  fleet = await Fleet.start(Fleet.processesFor(n), log);
  await fleet.open('mass-close', await syncmeshUsers({ cluster }, 'mc', n), { concurrency: OPEN_CONCURRENCY, timeoutMs: OPEN_TIMEOUT_MS, total: n });
  await waitMetric(metrics, 'syncmesh_socket_sessions', n, 60_000);
  if (idleMs > 0) {
    log.info(`mass-close: idle for ${idleMs} ms`);
    await settle(idleMs);
  }
  log.info(`mass-close: closing ${n} clients at once`);
  const open = fleet;
  const { doneMs, lagMaxMs: [lagMaxMs = 0] } = await massCloseStalls([metrics], () => open.close());
  const logText = await readFile(join(cluster.logDir, `${node.name}.log`), 'utf8');
  const fenced = logText.includes('self-fencing');
  process.stdout.write(
    `mass-close: ${n} connections closed at once; sessions gone after ${doneMs} ms; ` +
      `longest event-loop stall of ${node.name} ${Math.round(lagMaxMs)} ms (${(lagMaxMs / n * 1000).toFixed(0)} us per close); ` +
      `${fenced ? 'the node SELF-FENCED (stall past downAfterMs)' : 'no self-fence'}\n`,
  );
} finally {
  await fleet?.stop();
  await cluster.stop();
}
