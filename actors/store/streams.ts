/**
 * The three JetStream streams of each storage partition (layout.ts), created (or checked against this
 * configuration) at start. Each has a byte limit with `discard: new` (StoreLimits are totals: each
 * partition's stream has an equal share): when full, a write is refused (the request answers
 * quota_exceeded) and nothing stored is dropped.
 *
 * Records: file storage, no per-subject limit. A key's subject holds its current version (named by
 * its collection's index) and, briefly, the version it replaced, deleted once the new index is
 * written; versions of writes that never became visible (a fenced write, a crash before the index
 * write) are deleted by the writer or stay as unreferenced garbage. Nothing expires.
 *
 * Index: file storage, `max_msgs_per_subject: 1`: each subject holds one index, its latest state, and
 * its last sequence is what the next write of it must expect (compare-and-set, see index.ts). Its
 * writes carry no `Nats-Msg-Id` since session 19 (writes.ts: an attempt is told apart by a header
 * nats-server does not track), so its duplicate window holds nothing; it stays at
 * {@link INDEX_DUPLICATE_WINDOW_MS}, the window of the releases whose writes carried ids, so that an
 * existing index stream matches this configuration.

 * Commands: file storage, one message per command. Kept until acknowledged: no expiry unless
 * `commandTtlMs` is set (then JetStream drops older ones, and device indexes skip them).
 *
 * Several storage nodes may start at once: each creates the stream or checks the existing one
 * (runtime/streams.ts); one with other settings (replica count, limits) is reported, not changed.
 */
import { DiscardPolicy, StorageType, type JetStreamManager, type StreamConfig } from '@nats-io/jetstream';
import type { Logger } from 'pino';
import { ensureStream as ensureClusterStream } from '../../runtime/mod.js';
import { StoreSetupError } from './errors.js';
import { otherPartitioningStreams, type StoreLayout } from './layout.js';
import type { StoreLimits } from './limits.js';

export interface StreamSettings {
  readonly replicas: number;
  readonly limits: StoreLimits;
  /** Commands older than this are dropped; undefined: kept until acknowledged. */
  readonly commandTtlMs: number | undefined;
}

type Config = Partial<StreamConfig> & { name: string };

/** The index stream's duplicate window (unused since its writes carry no message id; kept so existing streams match). */
export const INDEX_DUPLICATE_WINDOW_MS = 30_000;

/**
 * One partition's part of a byte limit of the whole storage (StoreLimits are totals over the partitions):
 * an equal share, since users hash evenly over them. A limit of 0 or less (none) stays as it is.
 */
function share(bytes: number, layout: StoreLayout): number {
  return bytes > 0 ? Math.ceil(bytes / layout.partitions) : bytes;
}

export function recordStreamConfig(layout: StoreLayout, s: StreamSettings): Config {
  return {
    name: layout.recordStream,
    description: 'Syncmesh records: versions of (user, collection, key), the current one named by the collection index',
    subjects: [layout.recordSubjects],
    storage: StorageType.File,
    num_replicas: s.replicas,
    max_bytes: share(s.limits.recordStreamBytes, layout),
    discard: DiscardPolicy.New,
    allow_direct: s.replicas === 1,
  };
}

export function indexStreamConfig(layout: StoreLayout, s: StreamSettings): Config {
  return {
    name: layout.indexStream,
    description: 'Syncmesh indexes: per user, collection and device, the latest state only',
    subjects: [layout.indexSubjects],
    storage: StorageType.File,
    num_replicas: s.replicas,
    max_msgs_per_subject: 1,
    duplicate_window: INDEX_DUPLICATE_WINDOW_MS * 1_000_000,
    max_bytes: share(s.limits.indexStreamBytes, layout),
    discard: DiscardPolicy.New,
    allow_direct: s.replicas === 1,
  };
}

export function commandStreamConfig(layout: StoreLayout, s: StreamSettings): Config {
  return {
    name: layout.commandStream,
    description: 'Syncmesh device commands, kept until the target device acknowledges them',
    subjects: [layout.commandSubjects],
    storage: StorageType.File,
    num_replicas: s.replicas,
    max_bytes: share(s.limits.commandStreamBytes, layout),
    discard: DiscardPolicy.New,
    ...(s.commandTtlMs !== undefined && { max_age: s.commandTtlMs * 1_000_000 }),
    allow_direct: s.replicas === 1,
  };
}

/** The streams of one partition, in creation order. */
export function partitionStreamConfigs(layout: StoreLayout, s: StreamSettings): Config[] {
  return [recordStreamConfig(layout, s), indexStreamConfig(layout, s), commandStreamConfig(layout, s)];
}

/** Every stream of the storage, partition by partition: what createCloudStore creates and the storage role's NATS permissions cover. */
export function storeStreamConfigs(layouts: readonly StoreLayout[], s: StreamSettings): Config[] {
  return layouts.flatMap((layout) => partitionStreamConfigs(layout, s));
}

/**
 * Creates the stream, or checks that the existing one has this configuration (runtime ensureStream:
 * one helper for every stream of the cluster). A stream with other settings is not changed: the
 * error names each difference and how to fix it.
 */
export async function ensureStream(jsm: JetStreamManager, config: Config, logger: Logger): Promise<void> {
  try {
    await ensureClusterStream(jsm, config);
    logger.debug({ stream: config.name, replicas: config.num_replicas }, 'storage stream ready');
  } catch (err) {
    const hint = /insufficient|max_file_store|storage resources/i.test((err as Error).message)
      ? ' The storage streams reserve their byte limits (StoreLimits recordStreamBytes, indexStreamBytes, commandStreamBytes, shared by the partitions): lower them or raise the server\'s max_file_store.'
      : '';
    throw new StoreSetupError(`${(err as Error).message}${hint}`, { cause: err });
  }
}

/**
 * Refuses to start when the index stream of another partition count holds data (otherPartitioningStreams):
 * the users' data is there, and this storage would serve them empty streams. Absent or empty: fine.
 */
export async function refuseOtherPartitionings(jsm: JetStreamManager, prefix: string, partitions: number): Promise<void> {
  const names = otherPartitioningStreams(prefix, partitions);
  // Absent, as expected (or not readable: a NATS user whose permissions predate partitions): 0.
  const counts = await Promise.all(names.map((name) => jsm.streams.info(name).then((i) => i.state.messages, () => 0)));
  for (const [i, name] of names.entries()) {
    const messages = counts[i]!;
    if (messages > 0) {
      throw new StoreSetupError(`stream ${name} holds ${messages} messages of ${createdWith(name, prefix, partitions)}, but this cluster's settings say ${partitions} partitions, so its users would find their data missing. ${FIX}`);
    }
  }
  if (partitions === 1) return;
  // Fewer partitions before: the first ones exist and hold data, the rest do not exist. (Storage nodes
  // starting together on a new cluster see some of them created, all empty: no refusal.)
  const own = await Promise.all(Array.from({ length: partitions }, (_, p) => jsm.streams.info(`${prefix}-index-${p}`).then((i) => i.state.messages, () => undefined)));
  const existing = own.filter((m) => m !== undefined).length;
  const stored = own.reduce<number>((sum, m) => sum + (m ?? 0), 0);
  if (existing > 0 && existing < partitions && stored > 0) {
    throw new StoreSetupError(`${existing} of the ${partitions} index streams ${prefix}-index-<p> exist: the storage was created with ${existing} partitions, but this cluster's settings say ${partitions}, so users would be looked for in the wrong partition. ${FIX}`);
  }
}

/** What kind of storage created `name`, one of otherPartitioningStreams(prefix, partitions). */
function createdWith(name: string, prefix: string, partitions: number): string {
  if (partitions === 1) return `a partitioned storage (as many partitions as there are ${prefix}-index-<p> streams)`;
  if (name === `${prefix}-index`) return 'an unpartitioned storage (--store-partitions 1)';
  return `a storage of more than ${partitions} partitions`;
}

const FIX = 'Start the nodes with the --store-partitions the data was created with; if the settings were lost (a restore), that count writes them again (docs/deployment.md, "Storage partitions").';

/**
 * The first layout kept records in `<prefix>-data` (read by scanning) and commands in
 * `<prefix>-commands`; this storage does not read them. Their data is not migrated: say so once.
 */
export async function warnAboutLegacyStreams(jsm: JetStreamManager, layout: StoreLayout, logger: Logger): Promise<void> {
  for (const name of layout.legacyStreams) {
    try {
      const info = await jsm.streams.info(name);
      if (info.state.messages > 0) {
        logger.warn({ stream: name, messages: info.state.messages }, 'a stream of the earlier storage layout holds data this storage does not read (no migration); delete it once its data is not needed');
      }
    } catch {
      // Absent, as expected.
    }
  }
}
