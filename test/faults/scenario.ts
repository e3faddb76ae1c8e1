/**
 * The common frame of the fault tests (TARGETS R1, R7): a local cluster with three socket nodes, a
 * fleet of about 40 client-library devices of several users writing steadily, a fault, then the
 * checks every fault must pass:
 *   - every device is connected again, to a node that is up;
 *   - never two live sessions for one connection id: no device ever had a second socket welcomed while
 *     an earlier one was open, no socket was closed `replaced`, the sampled connection counts of the
 *     nodes never summed above the number of devices, and at the end each node holds exactly the
 *     devices that say they are on it, with the session fence naming that node for each of them;
 *   - 0 lost commits: every acknowledged commit is in a fresh pull by a new device of its user;
 *   - convergence: once the writes stop, every device's cache equals that fresh pull.
 */
import { expect } from 'vitest';
import { currentSocket, describeLastStatus, healthzUrl, startFleet, type Fleet, type FleetDevice } from '../kit/fleet.js';
import { divergence, lostCommits, type UserState } from '../kit/ledger-checks.js';
import { fenceHolders, freshPull, socketHealth, watchSessionCounts, type SessionCountWatch } from '../kit/server-view.js';
import type { LocalCluster } from '../kit/cluster.js';
import { isAlive } from '../kit/pid.js';
import { until } from '../kit/wait.js';
import { COUNTERS, SHARED, startLoad, type Load, type LoadOptions } from '../kit/workload.js';

export const COLLECTIONS = [COUNTERS, SHARED] as const;
/** Generous: two shared cores, other engineers' tests beside these. */
export const DEADLINE_MS = 20_000;

/** 14 users with 2, 3 or 4 devices each: 40 devices. */
export const DEVICES_PER_USER = [2, 3, 4, 2, 3, 4, 2, 3, 4, 2, 3, 4, 2, 2] as const;

export interface Scenario {
  readonly cluster: LocalCluster;
  readonly fleet: Fleet;
  readonly load: Load;
  readonly sessions: SessionCountWatch;
  /** Socket nodes of the cluster as started: node id, pid, socket URL. */
  readonly socketNodes: readonly { readonly node: string; readonly pid: number; readonly socket: string }[];
  [Symbol.asyncDispose](): Promise<void>;
}

/** Fleet connected, load running, every device has had commits acknowledged. */
export async function startScenario(cluster: LocalCluster, tag: string, load: LoadOptions): Promise<Scenario> {
  const socketNodes = cluster.state.processes
    .filter((p) => p.socket !== undefined)
    .map((p) => ({ node: p.node, pid: p.pid, socket: p.socket! }));
  const fleet = await startFleet({ url: cluster.url, tag, devicesPerUser: DEVICES_PER_USER, collections: COLLECTIONS });
  let running: Load | undefined;
  let sessions: SessionCountWatch | undefined;
  try {
    await fleet.whenAllConnected(30_000);
    sessions = watchSessionCounts(() => knownHealthzUrls(socketNodes, fleet));
    running = startLoad(fleet.devices, load);
    const started = Date.now();
    await waitAll(fleet.devices, 'every device to have 2 commits acknowledged', (d) => running!.ackedSince(d, started) >= 2, 30_000);
  } catch (err) {
    await running?.stop();
    await sessions?.stop();
    await fleet.close();
    throw err;
  }
  const l = running;
  const s = sessions;
  return {
    cluster,
    fleet,
    load: l,
    sessions: s,
    socketNodes,
    [Symbol.asyncDispose]: async () => {
      await l.stop();
      await s.stop();
      await fleet.close();
    },
  };
}

/** Every socket node a device ever opened a socket to, and those the cluster started with. */
function knownHealthzUrls(socketNodes: Scenario['socketNodes'], fleet: Fleet): string[] {
  const urls = new Set(socketNodes.map((s) => healthzUrl(s.socket)));
  for (const d of fleet.devices) for (const s of d.sockets) urls.add(healthzUrl(s.url));
  return [...urls];
}

/** Waits for `pred` on every device; on timeout names the devices that fail it and their status. */
export async function waitAll(devices: readonly FleetDevice[], what: string, pred: (d: FleetDevice) => boolean, timeoutMs = DEADLINE_MS): Promise<void> {
  await until(() => devices.every(pred), what, timeoutMs, () => {
    const bad = devices.filter((d) => !pred(d));
    return `${bad.length} device(s): ${bad.slice(0, 8).map((d) => `${d.userId}/${d.deviceId} ${describeLastStatus(d)}`).join('; ')}`;
  });
}

/** The socket node with the most connections, by its own /healthz. */
export async function busiestSocketNode(sc: Scenario): Promise<{ node: string; pid: number; connections: number }> {
  const counts = await Promise.all(sc.socketNodes.map(async (s) => ({ ...s, connections: (await socketHealth(healthzUrl(s.socket)))?.connections ?? -1 })));
  counts.sort((a, b) => b.connections - a.connections);
  return counts[0]!;
}

/** Stops the load, then runs every check of the file comment. Returns the server state per user. */
export async function stopAndCheck(sc: Scenario): Promise<Map<string, UserState>> {
  const { fleet, load, sessions, cluster } = sc;
  await load.stop();
  await sessions.stop();

  // Connected, to a node that is up; each node up holds exactly the devices that say they are on it.
  await waitAll(fleet.devices, 'every device connected', (d) => d.client.status === 'connected');
  const urls = new Set(fleet.devices.map((d) => healthzUrl(currentSocket(d)!.url)));
  for (const s of sc.socketNodes) if (isAlive(s.pid)) urls.add(healthzUrl(s.socket));
  const perNode: Record<string, number> = {};
  for (const h of await Promise.all([...urls].map((u) => socketHealth(u)))) {
    if (h?.status === 'ok' && typeof h.connections === 'number') perNode[h.node] = h.connections;
  }
  const claimed: Record<string, number> = Object.fromEntries(Object.keys(perNode).map((n) => [n, 0]));
  for (const d of fleet.devices) claimed[d.client.node!] = (claimed[d.client.node!] ?? 0) + 1;
  expect(perNode, 'connections each node up holds = devices that say they are on it').toEqual(claimed);
  const holders = await fenceHolders(cluster.state, fleet.devices.map((d) => ({ connectionId: d.client.connectionId!, userId: d.userId })));
  const checkedAt = Date.now();
  const fenceWrong = fleet.devices
    .filter((d) => holders.get(d.client.connectionId!) !== d.client.node)
    .map((d) => `${d.userId}/${d.deviceId}@${d.client.node} fence=${holders.get(d.client.connectionId!)} (socket ${d.sockets.length}, welcomed ${checkedAt - (currentSocket(d)?.welcomedAt ?? checkedAt)} ms before)`);
  expect(fenceWrong, 'the session fence names the node each device is on').toEqual([]);
  expect(fleet.devices.flatMap((d) => d.violations), 'never two live sessions for one device').toEqual([]);
  expect(sessions.max.total, `sampled connections never above the device count (worst sample ${JSON.stringify(sessions.max.perNode)})`).toBeLessThanOrEqual(fleet.devices.length);
  expect(sessions.samples).toBeGreaterThan(5);

  // 0 lost commits, against a fresh pull by a new device of each user.
  const states = new Map<string, UserState>();
  for (const userId of fleet.users) states.set(userId, await freshPull(cluster.url, userId, 'fresh-checker', COLLECTIONS));
  expect(lostCommits(load, states), 'acknowledged commits missing from the server').toEqual([]);

  // Convergence: the pushes and pulls under way settle; then each cache is the server's state.
  await until(
    () => fleet.devices.every((d) => divergence(d, states.get(d.userId)!).length === 0),
    'every device cache to equal a fresh pull',
    DEADLINE_MS,
    () => fleet.devices.flatMap((d) => divergence(d, states.get(d.userId)!)).slice(0, 10).join('; '),
  );
  const stuck = fleet.devices.flatMap((d) => d.errors.filter((e) => e.startsWith('OfflineError')));
  expect(stuck, 'no device went offline').toEqual([]);
  return states;
}

/** Counts of commit outcomes, and each kind of failure with its first message, for the report. */
export function commitSummary(load: Load): string {
  const acked = load.commits.filter((c) => c.outcome === 'acked').length;
  const unknown = load.commits.filter((c) => c.outcome === 'unknown');
  const kinds = new Map<string, { n: number; first: string }>();
  for (const c of unknown) {
    const error = c.error ?? '?';
    const name = error.split(':')[0]!;
    const k = kinds.get(name) ?? { n: 0, first: error };
    k.n++;
    kinds.set(name, k);
  }
  const list = [...kinds].map(([name, k]) => `${name} ${k.n}${name === 'ConnectionLostError' ? '' : ` [${k.first}]`}`);
  return `${acked} commits acknowledged, ${unknown.length} unknown (${list.join(', ') || 'none'})`;
}

/** p50 / max of a list of milliseconds. */
export function msStats(xs: readonly number[]): string {
  if (xs.length === 0) return 'none';
  const s = [...xs].sort((a, b) => a - b);
  return `p50 ${s[Math.floor(s.length / 2)]} ms, max ${s.at(-1)} ms (n=${s.length})`;
}
