/**
 * Every JetStream stream and KV bucket of a Syncmesh cluster is created through this file, with one
 * definition per stream, so whichever node creates it first creates it with the cluster's settings.
 *
 * ensureStream() creates a stream, or, when it exists, compares the settings it was asked for with
 * the ones it found and refuses to go on when they differ ({@link StreamMismatchError} names every
 * difference and how to fix it). It never changes an existing stream: nodes have no permission to
 * (docs/security.md, "NATS accounts and permissions"), and a silent "last writer wins" is how a
 * socket node once left the session fence at one replica on a three-server cluster.
 *
 * ensureBucket() does the same for a KV bucket: a KV bucket is the stream `KV_<bucket>`, built here
 * with the same settings nats.js would give it, plus `allow_direct: true` stated explicitly. With
 * more than one replica nats-server 2.9 turns Direct Get off unless asked, and KV reads would then go
 * through the stream leader only; a KV read here is always followed by a compare-and-set write, so a
 * follower that is a few milliseconds behind costs a retry, never a wrong answer.
 */
import { DiscardPolicy, JetStreamApiError, RetentionPolicy, StorageType, jetstreamManager, type JetStreamManager, type StreamConfig, type StreamInfo } from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
import { NoRespondersError, RequestError, TimeoutError, type NatsConnection } from '@nats-io/nats-core';
import { StreamMismatchError, StreamSetupError } from './errors.js';

const STREAM_NAME_IN_USE = 10058;
/**
 * "subjects overlap with an existing stream". nats-server 2.9 also answers this, instead of "name in
 * use", to the second of two nodes creating the same stream at the same moment (found by a race of
 * four connections, one failure in 30 rounds: the node exited before it was ready).
 */
const STREAM_SUBJECT_OVERLAP = 10065;
const STREAM_NOT_FOUND = 10059;
/** "JetStream system temporarily unavailable": a cluster still electing its leaders. */
const CLUSTER_NOT_AVAILABLE = 10008;
/** How long setup keeps trying while JetStream cannot answer yet (a cluster that is still forming). */
export const SETUP_RETRY_MS = 30_000;

/**
 * True for "JetStream could not answer now" (timeouts, no responders, not available), not "wrong
 * request". Wrappers are looked through (js.publish reports no responders as an error whose cause is
 * the RequestError). `alsoTransient`: a caller's own errors of that kind (a lost connection, say).
 */
export function isTransientJsError(err: unknown, alsoTransient?: (err: unknown) => boolean, depth = 0): boolean {
  if (err instanceof TimeoutError || err instanceof NoRespondersError || (err instanceof RequestError && err.isNoResponders())) return true;
  if (err instanceof JetStreamApiError && err.code === CLUSTER_NOT_AVAILABLE) return true;
  if (alsoTransient?.(err) === true) return true;
  return depth < 3 && err instanceof Error && err.cause !== undefined && isTransientJsError(err.cause, alsoTransient, depth + 1);
}

/**
 * Runs `attempt` until it resolves, fails for a reason that is not transient, or `budgetMs` passed.
 * Nodes of a cluster start together with their NATS servers: the first stream creations may meet a
 * JetStream that is still electing leaders, and should wait for it rather than fail the node.
 */
export async function settle<T>(attempt: () => Promise<T>, budgetMs = SETUP_RETRY_MS): Promise<T> {
  const deadline = Date.now() + budgetMs;
  for (let wait = 50; ; wait = Math.min(wait * 2, 1_000)) {
    try {
      return await attempt();
    } catch (err) {
      if (!isTransientJsError(err) || Date.now() + wait >= deadline) throw err;
    }
    await new Promise((r) => setTimeout(r, wait));
  }
}

/** A stream definition: its name and every setting that matters (compared when it already exists). */
export type StreamDefinition = Partial<StreamConfig> & { readonly name: string };

/** A KV bucket definition. */
export interface BucketDefinition {
  /** Bucket name ([-_A-Za-z0-9]); the stream is `KV_<bucket>`. */
  readonly bucket: string;
  readonly replicas: number;
  /** Values kept per key (default 1). */
  readonly history?: number;
  /** Entries older than this are removed (bucket-wide: nats-server 2.9 has no per-key TTL). Absent: kept. */
  readonly maxAgeMs?: number;
  readonly description?: string;
}

/** Settings left out of the comparison: they do not change behaviour, or the server fills them in. */
const NOT_COMPARED = new Set(['name', 'description', 'metadata']);
/**
 * Settings where an existing stream may have more than asked for: a longer `duplicate_window` still
 * catches every retry the writer makes (it only holds message ids in memory longer), so a stream
 * created with an older, longer window keeps working; a shorter one would let a retry through.
 */
const AT_LEAST = new Set(['duplicate_window']);

function norm(v: unknown): unknown {
  if (Array.isArray(v)) return [...v].map(String).sort().join(',');
  if (typeof v === 'bigint') return Number(v);
  return v ?? false;
}

/** Differences between what was asked for and what exists: `field: found X, expected Y`. */
export function streamDifferences(wanted: StreamDefinition, found: StreamConfig): string[] {
  const out: string[] = [];
  const f = found as unknown as Record<string, unknown>;
  for (const [k, v] of Object.entries(wanted)) {
    if (NOT_COMPARED.has(k) || v === undefined) continue;
    if (AT_LEAST.has(k) && typeof norm(v) === 'number' && typeof norm(f[k]) === 'number' && (norm(f[k]) as number) >= (norm(v) as number)) continue;
    if (norm(v) !== norm(f[k])) out.push(`${k}: found ${JSON.stringify(f[k] ?? null)}, expected ${JSON.stringify(v)}`);
  }
  return out;
}

function fixAdvice(name: string, diffs: readonly string[]): string {
  const replicas = diffs.some((d) => d.startsWith('num_replicas'));
  return (
    (replicas
      ? 'Every node takes replicas from the cluster settings (KV bucket <prefix>_cluster, see docs/deployment.md): start every node with the same --replicas, or none. '
      : '') +
    `To bring the existing stream to these settings, an operator edits it with the nats CLI (\`nats stream edit ${name}\`, for example \`--replicas 3\`), ` +
    `or, when its data can go, removes it (\`nats stream rm ${name}\`) and lets the node create it again.`
  );
}

/**
 * Creates the stream, or checks that the existing one has the wanted settings. Resolves with its
 * info. Rejects with StreamMismatchError (what differs, how to fix it) or StreamSetupError.
 */
export async function ensureStream(jsm: JetStreamManager, wanted: StreamDefinition): Promise<StreamInfo> {
  let info: StreamInfo | undefined;
  try {
    info = await settle(() => jsm.streams.info(wanted.name));
  } catch (err) {
    if (!(err instanceof JetStreamApiError && err.code === STREAM_NOT_FOUND)) throw setupError(wanted.name, 'read', err);
  }
  if (info === undefined) {
    try {
      return await settle(() => jsm.streams.add(wanted));
    } catch (err) {
      // Another node created it between our read and our create: check theirs like any other.
      const raced = err instanceof JetStreamApiError && (err.code === STREAM_NAME_IN_USE || err.code === STREAM_SUBJECT_OVERLAP);
      if (!raced) throw setupError(wanted.name, 'create', err);
      info = await settle(() => jsm.streams.info(wanted.name)).catch((e: unknown) => {
        // An overlap with a stream of another name is a real conflict: report the create's error.
        if (e instanceof JetStreamApiError && e.code === STREAM_NOT_FOUND) throw setupError(wanted.name, 'create', err);
        throw setupError(wanted.name, 'read', e);
      });
    }
  }
  const diffs = streamDifferences(wanted, info.config);
  if (diffs.length > 0) {
    throw new StreamMismatchError(
      `JetStream stream ${wanted.name} exists with other settings than this node needs: ${diffs.join('; ')}. ${fixAdvice(wanted.name, diffs)}`,
      wanted.name,
      diffs,
    );
  }
  return info;
}

function setupError(name: string, what: 'read' | 'create', err: unknown): StreamSetupError {
  const msg = (err as Error)?.message ?? String(err);
  const hint = /permission/i.test(msg)
    ? `this node's NATS user may not ${what} it: check the user's permissions (docs/security.md, "NATS accounts and permissions")`
    : /insufficient resources|no suitable peers/i.test(msg)
      ? 'the NATS cluster has fewer JetStream servers than the replicas asked for: start every server of the cluster, or lower --replicas'
      : 'is JetStream enabled on the NATS servers, with room for file storage?';
  return new StreamSetupError(`could not ${what} JetStream stream ${name}: ${msg}; ${hint}`, { cause: err });
}

/** The stream behind a KV bucket, as nats.js would create it, with Direct Get stated explicitly. */
export function bucketStream(b: BucketDefinition): StreamDefinition {
  return {
    name: `KV_${b.bucket}`,
    ...(b.description !== undefined && { description: b.description }),
    subjects: [`$KV.${b.bucket}.>`],
    retention: RetentionPolicy.Limits,
    storage: StorageType.File,
    num_replicas: b.replicas,
    max_msgs_per_subject: b.history ?? 1,
    ...(b.maxAgeMs !== undefined && { max_age: b.maxAgeMs * 1_000_000 }),
    discard: DiscardPolicy.New,
    allow_rollup_hdrs: true,
    allow_direct: true,
  };
}

/** Creates or checks the bucket (see {@link ensureStream}) and opens it. */
export async function ensureBucket(nc: NatsConnection, b: BucketDefinition): Promise<KV> {
  let jsm: JetStreamManager;
  try {
    jsm = await jetstreamManager(nc, { checkAPI: false });
  } catch (err) {
    throw setupError(`KV_${b.bucket}`, 'read', err);
  }
  await ensureStream(jsm, bucketStream(b));
  // Bound, not created: the stream is ours and checked; nats.js reads with Direct Get as told.
  return new Kvm(nc).open(b.bucket, { allow_direct: true });
}
