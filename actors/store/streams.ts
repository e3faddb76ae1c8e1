/**
 * The three JetStream streams of the storage, created (or brought to this configuration) at start.
 *
 * Data: file storage, `max_msgs_per_subject: 1` so a record subject holds only its latest state and
 * the stream sequence is the record's revision. Nothing expires; deletes are tombstones (an empty
 * payload) that stay as the key's latest state so pulls can report them.
 *
 * Commands: file storage, one subject per target device holding up to `maxPendingCommands` messages,
 * `discard_new_per_subject` so one more is refused (the sender hears rate_limited) instead of
 * silently dropping the oldest. Commands a device never acknowledges expire after `commandTtlMs`.
 *
 * Delivered notices: file storage, one subject per sender device keeping the newest `maxPendingCommands`
 * notices (`discard: old` per subject: a sender that stays connected gets its notices live and only
 * clears them at its next connect, so the oldest are the ones most surely already seen). Same expiry as
 * commands.
 *
 * Several storage nodes may start at once: adding a stream that exists with the same configuration
 * succeeds, and a differing one is updated (replica count, limits); the last writer wins.
 */
import { DiscardPolicy, JetStreamApiError, StorageType, type JetStreamManager, type StreamConfig } from '@nats-io/jetstream';
import type { Logger } from 'pino';
import { StoreSetupError } from './errors.js';
import type { StoreLayout } from './layout.js';

const STREAM_NAME_IN_USE = 10058;

export interface StreamSettings {
  readonly replicas: number;
  readonly maxPendingCommands: number;
  readonly commandTtlMs: number;
}

type Config = Partial<StreamConfig> & { name: string };

export function dataStreamConfig(layout: StoreLayout, s: StreamSettings): Config {
  return {
    name: layout.dataStream,
    description: 'Syncmesh records: one message per (user, collection, key), its latest state',
    subjects: [layout.dataSubjects],
    storage: StorageType.File,
    num_replicas: s.replicas,
    max_msgs_per_subject: 1,
    discard: DiscardPolicy.Old,
    allow_direct: s.replicas === 1,
  };
}

export function commandStreamConfig(layout: StoreLayout, s: StreamSettings): Config {
  return {
    name: layout.commandStream,
    description: 'Syncmesh device commands, kept per target device until acknowledged',
    subjects: [layout.commandSubjects],
    storage: StorageType.File,
    num_replicas: s.replicas,
    max_msgs_per_subject: s.maxPendingCommands,
    discard: DiscardPolicy.New,
    discard_new_per_subject: true,
    max_age: s.commandTtlMs * 1_000_000,
    allow_direct: s.replicas === 1,
  };
}

export function noticeStreamConfig(layout: StoreLayout, s: StreamSettings): Config {
  return {
    name: layout.noticeStream,
    description: 'Syncmesh delivered notices, kept per sender device until it has been sent them',
    subjects: [layout.noticeSubjects],
    storage: StorageType.File,
    num_replicas: s.replicas,
    max_msgs_per_subject: s.maxPendingCommands,
    discard: DiscardPolicy.Old,
    max_age: s.commandTtlMs * 1_000_000,
    allow_direct: s.replicas === 1,
  };
}

/** Creates the stream, or updates it when it exists with another configuration. */
export async function ensureStream(jsm: JetStreamManager, config: Config, logger: Logger): Promise<void> {
  try {
    await jsm.streams.add(config);
    return;
  } catch (err) {
    if (!(err instanceof JetStreamApiError && err.code === STREAM_NAME_IN_USE)) {
      throw new StoreSetupError(`cannot create JetStream stream ${config.name}: ${(err as Error).message}. Is JetStream enabled on the server, with room for file storage?`, { cause: err });
    }
  }
  try {
    const { name, ...update } = config;
    await jsm.streams.update(name, update);
    logger.info({ stream: name, replicas: config.num_replicas }, 'storage stream configuration updated');
  } catch (err) {
    throw new StoreSetupError(
      `stream ${config.name} exists with a configuration that cannot be changed to this one (${(err as Error).message}). ` +
        'Start the storage with the settings it was created with (for example the same --replicas), or move the stream aside.',
      { cause: err },
    );
  }
}
