/**
 * Test kit: what the cluster itself holds, read from outside, to check clients against it.
 *   - freshPull: a collection as a brand-new device of the user pulls it (raw protocol, from since 0);
 *   - socketHealth: a socket node's GET /healthz (node id, open connections), or undefined when down;
 *   - fenceHolders: which node holds each connection id in the session fence (KV `<prefix>_sessions`);
 *   - watchSessionCounts: samples every known socket node's connection count while a test runs.
 */
import { Kvm } from '@nats-io/kv';
import { connect } from '@nats-io/transport-node';
import { natsConnectionOptions } from '../../gateway/nats/mod.js';
import { decode, toSafeInteger } from '../../protocol/mod.js';
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

/** The node holding each connection id in the session fence; absent ids are held by nobody. */
export async function fenceHolders(access: NatsAccess, connectionIds: readonly string[], prefix = 'sm'): Promise<Map<string, string>> {
  const seed = access.natsSeeds?.['socket'];
  const nc = await connect(
    await natsConnectionOptions({
      servers: typeof access.nats === 'string' ? access.nats.split(',') : [...access.nats],
      roles: ['socket'],
      ...(seed !== undefined && { nkeyFile: seed }),
      ...(access.natsCa !== undefined && { caFile: access.natsCa }),
    }),
  );
  try {
    const kv = await new Kvm(nc).open(`${prefix}_sessions`);
    const out = new Map<string, string>();
    for (const id of connectionIds) {
      const e = await kv.get(id);
      if (e === null || e.operation !== 'PUT') continue;
      const v = decode(e.value) as { node?: unknown };
      out.set(id, String(v.node));
    }
    return out;
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
