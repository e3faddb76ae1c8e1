/**
 * The cloud storage of the patent: each user's collections of keyed records and their device
 * commands, durable in JetStream. Plain TypeScript over one NATS connection; the `store` actor
 * (store-actor.ts) puts it behind the actor runtime. One instance serves every user of a node.
 *
 * Layout and encodings: layout.ts. Commit, pull and command contracts: commit.ts, pull.ts, commands.ts.
 * Design notes and measurements: README.md in this folder.
 */
import type { NatsConnection } from '@nats-io/nats-core';
import { jetstreamManager } from '@nats-io/jetstream';
import { pino, type Logger } from 'pino';
import type { ClearDeliveredResult, CommitResult, PendingResult, PullResult, SendResult } from '../messages.js';
import { ack, clearDelivered, nothingPending, pending, send, type AckInput, type AckOutcome, type ClearDeliveredInput, type PendingInput, type SendInput } from './commands.js';
import { commit, type CommitInput, type CommitOutcome } from './commit.js';
import type { StoreContext } from './context.js';
import { StoreSetupError, StoreUnavailableError } from './errors.js';
import { PartitionOf, storeLayouts, type StoreLayout } from './layout.js';
import { DEFAULT_STORE_LIMITS, type StoreLimits } from './limits.js';
import { knownDevices } from './devices.js';
import { pull, type PullInput } from './pull.js';
import { streamReader } from './reader.js';
import { JetStreamRequests } from '../../runtime/mod.js';
import { ensureStream, refuseOtherPartitionings, storeStreamConfigs, warnAboutLegacyStreams } from './streams.js';
import type { JetStreamManager } from '@nats-io/jetstream';
import { StreamRoom } from './room.js';
import { UserStates, type NewDevice } from './user-state.js';

export interface CloudStoreOptions {
  /** The connection to use; the store does not close it. */
  nc: NatsConnection;
  /** Subject prefix of the cluster (default `sm`); names the streams too (`sm-records`, `sm-index`, `sm-devcmds`). */
  prefix?: string;
  /** JetStream replicas of the streams (default 1; 3 on a three-server cluster). */
  replicas?: number;
  /**
   * Storage partitions (default 1): each user's data lives in the three streams of one partition
   * (layout.ts), so writes spread over the partitions' stream leaders. The cluster's setting
   * (`storePartitions`): every storage node of a cluster must use the same count, fixed at creation.
   */
  partitions?: number;
  logger?: Logger;
  /** Overrides of DEFAULT_STORE_LIMITS. */
  limits?: Partial<StoreLimits>;
  /**
   * Unacknowledged commands are dropped after this long. Default: never, a command is kept until its
   * target device acknowledges it (PROTOCOL.md).
   */
  commandTtlMs?: number;
  /** Idle users whose indexes stay cached in memory (default 10_000; 0 reads every index from JetStream). */
  cachedUsers?: number;
  /** Deadline of one JetStream request (default 2_000 ms). */
  timeoutMs?: number;
  /**
   * How long a request keeps retrying while JetStream cannot be reached (a stream leader election,
   * a reconnect), default 8_000 ms: under the 10 s a session waits for the store. See retry.ts.
   */
  retryForMs?: number;
}

/**
 * Every method validates its input and rejects with a StoreError (errors.ts) whose `code` is the
 * public error code. Calls for different users are independent; calls for one user may run
 * concurrently, and the caller orders them if it needs to (the store actor does).
 */
export interface CloudStore {
  readonly prefix: string;
  /** Storage partitions (CloudStoreOptions.partitions). */
  readonly partitions: number;
  readonly limits: StoreLimits;
  /** Writes changes to one collection; stale `base`s come back as conflicts. See commit.ts. */
  commit(input: CommitInput): Promise<CommitOutcome>;
  /** Keys of a collection changed after `since`, once each, latest state, paged. See pull.ts. */
  pull(input: PullInput): Promise<PullResult>;
  /** Keeps a command for `toDevice` (a known device of the user) until it acks. See commands.ts. */
  send(input: SendInput): Promise<SendResult>;
  /**
   * Registers the device (devices quota) and answers its unacknowledged commands, oldest first, and
   * its delivered notices not yet cleared. Called by every session at connect.
   */
  pending(input: PendingInput): Promise<PendingResult>;
  /**
   * True when `pending` would answer nothing and change nothing (a registered device with no command and
   * no notice), read from the stored indexes without the user's cache: asked without the store actor.
   */
  nothingPending(input: PendingInput): Promise<boolean>;
  /**
   * Removes an acknowledged command and keeps a delivered notice for its sender device; says whom to
   * tell `delivered`. Unknown ids: `{acked: false}`.
   */
  ack(input: AckInput): Promise<AckOutcome>;
  /** Removes the device's delivered notices up to `through`, once they were sent to it. */
  clearDelivered(input: ClearDeliveredInput): Promise<ClearDeliveredResult>;
  /** The devices the store knows of a user: where a push to every device of the user goes. See devices.ts. */
  devices(userId: string): Promise<string[]>;
  /**
   * The devices of `userId` that became known since the last call, each with the revisions of the
   * collections cached at that moment: the store actor sends each a `sync` per collection (devices.ts).
   */
  takeNewDevices(userId: string): NewDevice[];
  /**
   * Drops what this node has cached of the user: the next request reads the user's indexes from
   * JetStream. The store actor calls it when it activates, since another node may have served the user.
   */
  forget(userId: string): void;
  /** Refuses new calls and waits for the ones in flight. The connection stays open. */
  close(): Promise<void>;
}

/** Creates (or adopts) the storage streams and returns the store. Rejects with StoreSetupError. */
export async function createCloudStore(options: CloudStoreOptions): Promise<CloudStore> {
  const { nc } = options;
  const prefix = options.prefix ?? 'sm';
  const replicas = options.replicas ?? 1;
  const logger = options.logger ?? pino({ level: 'silent' });
  const limits: StoreLimits = { ...DEFAULT_STORE_LIMITS, ...options.limits };
  const timeoutMs = options.timeoutMs ?? 2_000;
  const retryForMs = options.retryForMs ?? 8_000;
  if (!Number.isInteger(replicas) || replicas < 1 || replicas > 5) {
    throw new StoreSetupError(`replicas must be an integer from 1 to 5, got ${replicas}`);
  }
  const partitions = options.partitions ?? 1;
  let layouts;
  try {
    layouts = storeLayouts(prefix, partitions);
  } catch (err) {
    throw new StoreSetupError((err as Error).message, { cause: err });
  }

  let jsm;
  try {
    jsm = await jetstreamManager(nc, { timeout: timeoutMs });
  } catch (err) {
    throw new StoreSetupError(`JetStream is not available on ${nc.getServer()}: ${(err as Error).message}. Enable JetStream on the nats-server (a \`jetstream {}\` block).`, { cause: err });
  }
  const settings = { replicas, limits, commandTtlMs: options.commandTtlMs };
  await refuseOtherPartitionings(jsm, prefix, partitions);
  for (const config of storeStreamConfigs(layouts, settings)) await ensureStream(jsm, config, logger);
  await warnAboutLegacyStreams(jsm, layouts[0]!, logger);
  logger.info({ prefix, replicas, partitions, streams: layouts.flatMap((l) => [l.recordStream, l.indexStream, l.commandStream]) }, 'cloud storage ready');

  // Reads and writes over one reply subscription (requests.ts), not nats.js request() per call.
  const requests = new JetStreamRequests(nc);
  const base = { requests, jsm, limits, logger, timeoutMs, retryForMs, direct: replicas === 1 };
  const cachedUsers = Math.ceil((options.cachedUsers ?? 10_000) / partitions);
  const contexts = layouts.map((layout) => partitionContext(base, layout, cachedUsers));
  const partitionOf = new PartitionOf(partitions);
  /** The context of the partition holding `userId`'s data (every operation is about one user). */
  const ctxOf = (userId: string): StoreContext => contexts[partitionOf.of(userId)]!;

  let closed = false;
  const inFlight = new Set<Promise<unknown>>();
  const track = <T>(run: () => Promise<T>): Promise<T> => {
    if (closed) return Promise.reject(new StoreUnavailableError('the cloud storage is closed; this node is shutting down, retry on another'));
    const p = run();
    inFlight.add(p);
    const done = (): void => void inFlight.delete(p);
    p.then(done, done);
    return p;
  };

  return {
    prefix,
    limits,
    partitions,
    commit: (input) => track(() => commit(ctxOf(input.userId), input)),
    pull: (input) => track(() => pull(ctxOf(input.userId), input)),
    send: (input) => track(() => send(ctxOf(input.userId), input)),
    pending: (input) => track(() => pending(ctxOf(input.userId), input)),
    nothingPending: (input) => track(() => nothingPending(ctxOf(input.userId), input)),
    ack: (input) => track(() => ack(ctxOf(input.userId), input)),
    clearDelivered: (input) => track(() => clearDelivered(ctxOf(input.userId), input)),
    devices: (userId) => track(() => knownDevices(ctxOf(userId), userId)),
    takeNewDevices: (userId) => ctxOf(userId).states.takeNewDevices(userId),
    forget: (userId) => ctxOf(userId).states.forget(userId),
    close: async () => {
      closed = true;
      await Promise.allSettled([...inFlight]);
      requests.close();
    },
  };
}

interface PartitionBase {
  readonly requests: JetStreamRequests;
  readonly jsm: JetStreamManager;
  readonly limits: StoreLimits;
  readonly logger: Logger;
  readonly timeoutMs: number;
  readonly retryForMs: number;
  /** Direct reads (any replica) with one replica; leader reads otherwise, see reader.ts. */
  readonly direct: boolean;
}

/** Readers, rooms and cached users of one partition's streams. */
function partitionContext(base: PartitionBase, layout: StoreLayout, cachedUsers: number): StoreContext {
  const { requests, jsm, limits, logger, timeoutMs, retryForMs, direct } = base;
  const io = { timeoutMs, retryForMs };
  const index = streamReader(requests, layout.indexStream, { direct, ...io });
  return {
    requests,
    jsm,
    layout,
    limits,
    logger,
    ...io,
    rooms: {
      records: new StreamRoom(jsm, layout.recordStream),
      index: new StreamRoom(jsm, layout.indexStream),
      commands: new StreamRoom(jsm, layout.commandStream),
    },
    indexes: index,
    records: streamReader(requests, layout.recordStream, { direct, ...io }),
    commands: streamReader(requests, layout.commandStream, { direct, ...io }),
    states: new UserStates(layout, index, cachedUsers),
  };
}
