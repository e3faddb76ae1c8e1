/**
 * The three JetStream streams of the storage, created (or checked against this configuration) at start.
 * Each has a byte limit with `discard: new`: when full, a write is refused (the request answers
 * quota_exceeded) and nothing stored is dropped.
 *
 * Records: file storage, no per-subject limit. A key's subject holds its current version (named by
 * its collection's index) and, briefly, the version it replaced, deleted once the new index is
 * written; versions of writes that never became visible (a fenced write, a crash before the index
 * write) are deleted by the writer or stay as unreferenced garbage. Nothing expires.
 *
 * Index: file storage, `max_msgs_per_subject: 1`: each subject holds one index, its latest state, and
 * its last sequence is what the next write of it must expect (compare-and-set, see index.ts). Its
 * index writes carry a message id per attempt (writes.ts), which nats-server keeps in memory for the
 * stream's `duplicate_window`: {@link INDEX_DUPLICATE_WINDOW_MS}, long enough for every retry of one
 * write (retryForMs + one timeout, 10 s by default), not the 2-minute default, which held the ids of
 * 2 minutes of commits. An index stream created earlier with the 2-minute window is accepted as it is
 * (a longer window is correct, it only holds more ids); `nats stream edit <prefix>-index --dupe-window 30s`
 * brings it down.
 *
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
import type { StoreLayout } from './layout.js';
import type { StoreLimits } from './limits.js';

export interface StreamSettings {
  readonly replicas: number;
  readonly limits: StoreLimits;
  /** Commands older than this are dropped; undefined: kept until acknowledged. */
  readonly commandTtlMs: number | undefined;
}

type Config = Partial<StreamConfig> & { name: string };

/** How long nats-server remembers the message id of an index write: longer than any retry of it (cloud-store.ts checks). */
export const INDEX_DUPLICATE_WINDOW_MS = 30_000;

export function recordStreamConfig(layout: StoreLayout, s: StreamSettings): Config {
  return {
    name: layout.recordStream,
    description: 'Syncmesh records: versions of (user, collection, key), the current one named by the collection index',
    subjects: [layout.recordSubjects],
    storage: StorageType.File,
    num_replicas: s.replicas,
    max_bytes: s.limits.recordStreamBytes,
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
    max_bytes: s.limits.indexStreamBytes,
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
    max_bytes: s.limits.commandStreamBytes,
    discard: DiscardPolicy.New,
    ...(s.commandTtlMs !== undefined && { max_age: s.commandTtlMs * 1_000_000 }),
    allow_direct: s.replicas === 1,
  };
}

/** Every stream of the storage, in creation order: what createCloudStore creates and the storage role's NATS permissions cover. */
export function storeStreamConfigs(layout: StoreLayout, s: StreamSettings): Config[] {
  return [recordStreamConfig(layout, s), indexStreamConfig(layout, s), commandStreamConfig(layout, s)];
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
      ? ' The three storage streams reserve their byte limits (StoreLimits recordStreamBytes, indexStreamBytes, commandStreamBytes): lower them or raise the server\'s max_file_store.'
      : '';
    throw new StoreSetupError(`${(err as Error).message}${hint}`, { cause: err });
  }
}

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
