/**
 * Test kit: checks of a workload's ledger (workload.ts) against the cluster's state (server-view.ts)
 * and the devices' own views (fleet.ts). Each returns a list of problems, empty when all is well, so a
 * failing test prints every broken record at once, not only the first.
 */
import { socketTimeline, type FleetDevice } from './fleet.js';
import type { ServerRecord } from './server-view.js';
import { COUNTERS, SHARED, type CommandBody, type CommitEntry, type Load } from './workload.js';

/** Collection -> key -> record, as freshPull returns it for one user. */
export type UserState = Map<string, Map<string, ServerRecord>>;

/** JSON with bigints as strings and object keys sorted: equal values give equal strings. */
export function canonical(v: unknown): string {
  return JSON.stringify(v, (_k, x: unknown) => {
    if (typeof x === 'bigint') return `${x}n`;
    if (x !== null && typeof x === 'object' && !Array.isArray(x) && !(x instanceof Uint8Array)) {
      return Object.fromEntries(Object.entries(x as Record<string, unknown>).sort(([a], [b]) => a.localeCompare(b)));
    }
    return x;
  });
}

/**
 * Every acknowledged commit is in the server state; every key there was written by some attempt.
 * A key overwritten round after round (counters, `<device>-last`) must hold an attempted round at
 * least as recent as the last acknowledged one: an older value means an acknowledged write was lost.
 */
export function lostCommits(load: Load, users: ReadonlyMap<string, UserState>): string[] {
  const problems: string[] = [];
  const byDevice = new Map<string, CommitEntry[]>();
  for (const c of load.commits) {
    const k = `${c.userId}/${c.deviceId}/${c.collection}`;
    byDevice.set(k, [...(byDevice.get(k) ?? []), c]);
  }
  for (const [k, entries] of byDevice) {
    const { userId, deviceId, collection } = entries[0]!;
    const state = users.get(userId)?.get(collection) ?? new Map<string, ServerRecord>();
    const attempted = new Set(entries.map((e) => e.n));
    const acked = entries.filter((e) => e.outcome === 'acked').map((e) => e.n);
    const lastAcked = acked.length > 0 ? Math.max(...acked) : 0;
    const latestKey = collection === COUNTERS ? deviceId : `${deviceId}-last`;
    const latest = state.get(latestKey);
    const latestN = latest && !latest.deleted ? Number(latest.value) : 0;
    if (latestN < lastAcked) problems.push(`${k}: key ${latestKey} holds round ${latestN} but round ${lastAcked} was acknowledged`);
    if (latestN > 0 && !attempted.has(latestN)) problems.push(`${k}: key ${latestKey} holds round ${latestN}, which was never written`);
    if (collection !== SHARED) continue;
    for (const n of acked) {
      const r = state.get(`${deviceId}-${n}`);
      if (!r || r.deleted || canonical(r.value) !== canonical({ by: deviceId, n })) {
        problems.push(`${k}: acknowledged key ${deviceId}-${n} is ${r ? canonical(r) : 'missing'} on the server`);
      }
    }
  }
  for (const [userId, state] of users) {
    for (const key of state.get(SHARED)?.keys() ?? []) {
      const m = /^(.+)-(\d+)$/.exec(key);
      if (!m) continue;
      const written = load.commits.some((c) => c.userId === userId && c.collection === SHARED && c.deviceId === m[1] && c.n === Number(m[2]));
      if (!written) problems.push(`${userId}/${SHARED}: key ${key} was never written`);
    }
  }
  return problems;
}

/** Differences between a device's cache and the server state of its user (every collection in `state`). */
export function divergence(d: FleetDevice, state: UserState): string[] {
  const problems: string[] = [];
  for (const [collection, records] of state) {
    const cached = new Map(d.client.entries(collection));
    for (const [key, r] of records) {
      if (r.deleted) {
        if (cached.has(key)) problems.push(`${d.deviceId} ${collection}/${key}: deleted on the server, cached`);
        continue;
      }
      const c = cached.get(key);
      if (!c) problems.push(`${d.deviceId} ${collection}/${key}: missing (server rev ${r.rev})`);
      else if (c.rev !== r.rev || canonical(c.value) !== canonical(r.value)) {
        problems.push(`${d.deviceId} ${collection}/${key}: cached rev ${c.rev} ${canonical(c.value)}, server rev ${r.rev} ${canonical(r.value)}`);
      }
      cached.delete(key);
    }
    for (const key of cached.keys()) problems.push(`${d.deviceId} ${collection}/${key}: cached, absent on the server`);
  }
  return problems;
}

export interface CommandCheck {
  readonly problems: string[];
}

/**
 * Commands: every send the client saw answered `sent` reached its target's application exactly once,
 * with its body, and the sender heard `delivered`. A send whose answer was lost may have been stored:
 * if it arrived, it arrived once, at the right device. Nothing else arrived.
 *
 * `delivered` is kept for the sender device until it has been sent it (PROTOCOL.md 3.3), so a sender
 * that was between connections when the ack was processed hears it after its next `welcome`: no
 * tolerance for senders that moved.
 */
export function checkCommands(load: Load, devices: readonly FleetDevice[]): CommandCheck {
  const problems: string[] = [];
  const find = (userId: string, deviceId: string): FleetDevice | undefined => devices.find((d) => d.userId === userId && d.deviceId === deviceId);
  const attempts = new Map(load.sends.map((s) => [`${s.userId}/${s.from}>${s.to}#${s.seq}`, s]));
  for (const d of devices) {
    const seen = new Map<string, number>();
    for (const c of d.commands) {
      seen.set(c.commandId, (seen.get(c.commandId) ?? 0) + 1);
      const b = c.body as Partial<CommandBody>;
      const s = attempts.get(`${d.userId}/${b.from}>${b.to}#${b.seq}`);
      if (!s || b.to !== d.deviceId || c.fromDevice !== b.from) problems.push(`${d.userId}/${d.deviceId}: got command ${c.commandId} ${canonical(c.body)} that nobody sent to it`);
      else if (s.commandId !== undefined && s.commandId !== c.commandId) problems.push(`${d.userId}/${d.deviceId}: command ${canonical(c.body)} came as ${c.commandId}, was sent as ${s.commandId}`);
    }
    for (const [id, n] of seen) if (n > 1) problems.push(`${d.userId}/${d.deviceId}: the application saw command ${id} ${n} times`);
  }
  for (const s of load.sends) {
    if (s.outcome !== 'acked' || s.commandId === undefined) continue;
    const target = find(s.userId, s.to);
    const sender = find(s.userId, s.from);
    const got = target?.commands.find((c) => c.commandId === s.commandId);
    if (!got) {
      problems.push(`${s.userId}: command ${s.commandId} ${s.from}->${s.to} #${s.seq} was sent but never received`);
      continue;
    }
    if (sender?.delivered.has(s.commandId)) continue;
    const timeline = [sender, target].map((d) => `${d?.deviceId}: ${socketTimeline(d?.sockets ?? [], got.at)}`).join('; ');
    problems.push(`${s.userId}: command ${s.commandId} ${s.from}->${s.to} #${s.seq}: the sender never got 'delivered' (ms from the target's receipt: ${timeline})`);
  }
  return { problems };
}
