/**
 * Test kit: what the cluster itself holds, read from outside, to check clients against it.
 *   - freshPull: a collection as a brand-new device of the user pulls it (raw protocol, from since 0);
 *   - socketHealth: a socket node's GET /healthz (node id, open connections), or undefined when down;
 *   - fenceHolders: which nodes hold each connection id, asked through the session fence itself (a
 *     probe's old claim is answered by every holder, gateway/socket/claims.ts);
 *   - watchSessionCounts: samples every known socket node's connection count while a test runs.
 */
import { connect } from '@nats-io/transport-node';
import { natsConnectionOptions } from '../../gateway/nats/mod.js';
import { pushSubjects } from '../../protocol/cluster/mod.js';
import { toSafeInteger } from '../../protocol/mod.js';
import { decodeFenceControl, encodeFenceControl } from '../../gateway/socket/fence.js';
import { Device, type Frame } from './device.js';

export interface ServerRecord {
  readonly rev: number;
  readonly value?: unknown;
  readonly deleted: boolean;
}

/** Every key of `collection`, as a new device of `userId` (device id `deviceId`) pulls it from 0. */
export async function freshPull(url: string, userId: string, deviceId: string, collections: readonly string[]): Promise<Map<string, Map<string, ServerRecord>>> {
  const dev = await Device.open(url, userId, deviceId);
  try {
    const out = new Map<string, Map<string, ServerRecord>>();
    for (const collection of collections) {
      const records = new Map<string, ServerRecord>();
      let since = 0;
      for (;;) {
        const answer: Frame = await dev.request({ t: 'pull', collection, since }, 20_000);
        if (answer.t !== 'changes') throw new Error(`pull of ${collection} answered ${JSON.stringify(answer)}`);
        for (const c of answer['changes'] as Array<Record<string, unknown>>) {
          const rev = toSafeInteger(c['rev'] as number | bigint);
          if (rev === undefined) throw new Error(`a change without a safe rev: ${String(c['key'])}`);
          records.set(String(c['key']), c['deleted'] === true ? { rev, deleted: true } : { rev, value: c['value'], deleted: false });
        }
        since = toSafeInteger(answer['rev'] as number | bigint) ?? since;
        if (answer['more'] !== true) break;
      }
      out.set(collection, records);
    }
    return out;
  } finally {
    dev.close();
    await dev.closedWith(10_000).catch(() => undefined);
  }
}

export interface SocketHealth {
  readonly status: string;
  readonly node: string;
  /** Absent while the node drains (it answers 503 {"status":"draining"}). */
  readonly connections?: number;
}

/** GET /healthz of a socket node; undefined when it does not answer (dead, or not started yet). */
export async function socketHealth(healthzUrl: string, timeoutMs = 5_000): Promise<SocketHealth | undefined> {
  try {
    const res = await fetch(healthzUrl, { signal: AbortSignal.timeout(timeoutMs) });
    return (await res.json()) as SocketHealth;
  } catch {
    return undefined;
  }
}

/** Where the cluster's NATS is and how to connect to it: the local cluster's state (cluster.json) will do. */
export interface NatsAccess {
  readonly nats: string | readonly string[];
  /** Nkey seed files by role; the socket role's is used to read the session fence. */
  readonly natsSeeds?: Readonly<Record<string, string>>;
  /** CA file when the servers use TLS. */
  readonly natsCa?: string;
}

/** A session to look up in the fence: its connection id and the user it belongs to. */
export interface FenceSession {
  readonly connectionId: string;
  readonly userId: string;
}

/**
 * The nodes holding each session's connection id (sorted, comma-joined: more than one is two live
 * sessions), found as the fence finds them: this probe announces the oldest possible claim (epoch 1) on
 * each id's push subject, and every node holding a session of that id answers with its own claim.
 * Ids nobody answers for within `waitMs` are probed once more, then left out of the map: a session
 * opened moments before may hold the first slot subscription of its node, and that interest crosses
 * the cluster's routes on its own time, so the server the probe publishes to may not know it yet.
 */
export async function fenceHolders(access: NatsAccess, sessions: readonly FenceSession[], prefix = 'sm', waitMs = 3_000): Promise<Map<string, string>> {
  const seed = access.natsSeeds?.['socket'];
  const nc = await connect(
    await natsConnectionOptions({
      servers: typeof access.nats === 'string' ? access.nats.split(',') : [...access.nats],
      roles: ['socket'],
      ...(seed !== undefined && { nkeyFile: seed }),
      ...(access.natsCa !== undefined && { caFile: access.natsCa }),
    }),
  );
  const probe = `fence-probe-${process.pid}`;
  const answers = new Map<string, Set<string>>();
  try {
    for (const { connectionId } of sessions) {
      nc.subscribe(pushSubjects.connection(prefix, connectionId), {
        callback: (_err, msg) => {
          const c = decodeFenceControl(msg.data);
          if (c === undefined || c.node === probe) return;
          let nodes = answers.get(connectionId);
          if (nodes === undefined) answers.set(connectionId, (nodes = new Set()));
          nodes.add(c.node);
        },
      });
    }
    await nc.flush();
    for (const round of [sessions, undefined]) {
      const ask = round ?? sessions.filter((s) => !answers.has(s.connectionId));
      if (ask.length === 0) break;
      for (const { connectionId, userId } of ask) nc.publish(pushSubjects.connection(prefix, connectionId), encodeFenceControl(userId, 1, probe));
      await nc.flush();
      // Every holder answers at once; a short settle after the last first answer catches a second holder.
      const deadline = Date.now() + waitMs;
      while (Date.now() < deadline && ask.some((s) => !answers.has(s.connectionId))) await new Promise((r) => setTimeout(r, 25));
      await new Promise((r) => setTimeout(r, 200));
    }
    return new Map([...answers].map(([id, nodes]) => [id, [...nodes].sort().join(',')]));
  } finally {
    await nc.close();
  }
}

export interface SessionCountWatch {
  /** Largest sum of connections over the nodes answering "ok" in one sample, and that sample. */
  readonly max: { readonly total: number; readonly perNode: Readonly<Record<string, number>> };
  readonly samples: number;
  stop(): Promise<void>;
}

/**
 * Samples, every `everyMs`, the /healthz of every socket node `urls()` names (all in parallel) and keeps
 * the sample with the most connections in total. A draining node answers without a count and is left
 * out: its clients are leaving, and counting them beside their new node would count a move twice.
 * A URL that stopped answering is not asked again: its process is gone (a restarted node listens on a
 * new port), and its port may be reused by an unrelated server.
 */
export function watchSessionCounts(urls: () => readonly string[], everyMs = 250): SessionCountWatch {
  let stopped = false;
  const state = { max: { total: 0, perNode: {} as Record<string, number> }, samples: 0 };
  const gone = new Set<string>();
  const loop = (async () => {
    while (!stopped) {
      const asked = urls().filter((u) => !gone.has(u));
      const answers = await Promise.all(asked.map((u) => socketHealth(u, 2_000)));
      const perNode: Record<string, number> = {};
      answers.forEach((a, i) => {
        if (a === undefined) gone.add(asked[i]!);
        else if (a.status === 'ok' && typeof a.connections === 'number') perNode[a.node] = a.connections;
      });
      const total = Object.values(perNode).reduce((s, n) => s + n, 0);
      state.samples++;
      if (total > state.max.total) state.max = { total, perNode };
      // Sampling period, not a wait for a condition.
      if (!stopped) await new Promise((r) => setTimeout(r, everyMs));
    }
  })();
  return {
    get max() {
      return state.max;
    },
    get samples() {
      return state.samples;
    },
    stop: async () => {
      stopped = true;
      await loop;
    },
  };
}
