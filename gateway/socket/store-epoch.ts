/**
 * The storage epoch this node sends in `welcome` (docs/protocol.md 3.1): an opaque string naming the
 * lifetime of the cluster's record store, so a client can tell that its cached records and cursors
 * came from a store that no longer exists (a wiped data dir, a recreated stream) and pull from 0.
 *
 * It is `<data stream name>@<creation time>` (StreamInfo.created of the data stream `<prefix>-index`, see
 * actors/store/layout.ts): the same on every node for the same JetStream data (replicas share the
 * creation time; a restart on the same data keeps it), and new only when the stream is created again.
 * With P storage partitions it is `<prefix>-index*P@<16 hex digits>`, a hash of every partition's data
 * stream creation time: a partition created again (its data lost) gives every client a new epoch, and
 * the clients of the other partitions pull once more for nothing, which is only a cost.
 *
 * Read at start and cached: welcome costs nothing per connection. Read again
 * - on JetStream's stream-created advisory for that stream (it was created after this node started,
 *   or deleted and created again);
 * - after a NATS reconnect (the servers may have come back on other data);
 * - every few seconds while it is unknown (the advisory is at most once).
 * While unknown (a socket node started before the storage node created the stream) welcome frames
 * carry no epoch, and clients keep their caches.
 */
import { JetStreamApiCodes, JetStreamApiError, jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection, Subscription } from '@nats-io/nats-core';
import type { Logger } from 'pino';
import { createHash } from 'node:crypto';
import { storeLayouts } from '../../actors/store/mod.js';
import { watchNatsStatus } from '../../runtime/mod.js';
import { SocketConfigError } from './errors.js';

/** Polling while the epoch is unknown: first retry, and the longest wait between two. */
const RETRY_FIRST_MS = 250;
const RETRY_MAX_MS = 5_000;

export class StoreEpoch {
  readonly #nc: NatsConnection;
  /** The data stream of every storage partition, in partition order. */
  readonly #streams: readonly string[];
  readonly #prefix: string;
  readonly #logger: Logger;
  #jsm: JetStreamManager | undefined;
  #current: string | undefined;
  #reading: Promise<void> | undefined;
  /** Another read was asked for while one ran: the answer in flight may predate the change. */
  #again = false;
  #retryMs = RETRY_FIRST_MS;
  #timer: NodeJS.Timeout | undefined;
  #advisories: Subscription[] = [];
  #stopStatus: (() => void) | undefined;
  #stopped = false;

  private constructor(nc: NatsConnection, prefix: string, streams: readonly string[], logger: Logger) {
    this.#nc = nc;
    this.#prefix = prefix;
    this.#streams = streams;
    this.#logger = logger;
  }

  /**
   * Starts following the epoch of the data streams under `prefix` (of `partitions` storage partitions,
   * the cluster's setting); resolves after the first read, with the epoch known if every stream exists.
   * Never rejects for a missing stream or unreachable JetStream (it keeps trying); throws
   * SocketConfigError for a prefix or partition count the storage cannot use.
   */
  static async start(nc: NatsConnection, prefix: string, logger: Logger, partitions = 1): Promise<StoreEpoch> {
    let streams: string[];
    try {
      streams = storeLayouts(prefix, partitions).map((l) => l.dataStream);
    } catch (err) {
      throw new SocketConfigError(`socket server options prefix ${JSON.stringify(prefix)} and storePartitions ${partitions} cannot name the storage streams: ${(err as Error).message}`, { cause: err });
    }
    const epoch = new StoreEpoch(nc, prefix, streams, logger);
    // Subscribed before the first read, so a stream created in between is not missed.
    epoch.#advisories = streams.map((stream) => nc.subscribe(`$JS.EVENT.ADVISORY.STREAM.CREATED.${stream}`, { callback: () => void epoch.refresh() }));
    epoch.#watchReconnects();
    await epoch.refresh();
    return epoch;
  }

  /** The current epoch; undefined while the data stream has not been seen. */
  get current(): string | undefined {
    return this.#current;
  }

  /** Reads the stream's creation time again (one read at a time; a call during a read reads once more after it). */
  refresh(): Promise<void> {
    if (this.#stopped) return Promise.resolve();
    if (this.#reading) {
      this.#again = true;
      return this.#reading;
    }
    this.#reading = (async () => {
      try {
        do {
          this.#again = false;
          await this.#read();
        } while (this.#again && !this.#stopped);
      } finally {
        this.#reading = undefined;
      }
    })();
    return this.#reading;
  }

  async #read(): Promise<void> {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    try {
      this.#jsm ??= await jetstreamManager(this.#nc, { checkAPI: false });
      const jsm = this.#jsm;
      const infos = await Promise.all(this.#streams.map((name) => jsm.streams.info(name)));
      this.#set(this.#epochOf(infos.map((info) => `${info.config.name}@${info.created}`)));
      this.#retryMs = RETRY_FIRST_MS;
    } catch (err) {
      const streams = this.#streams.length === 1 ? this.#streams[0] : this.#streams.join(', ');
      if (err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamNotFound) {
        // The store this epoch named is gone: a client must not be told its cache is still good.
        if (this.#current !== undefined) this.#logger.warn({ streams }, 'a storage stream is gone; welcome frames carry no epoch until it exists again');
        else this.#logger.info({ streams }, 'storage streams not created yet (is a storage node running?); welcome frames carry no epoch until they exist');
        this.#current = undefined;
      } else {
        this.#logger.warn({ err, streams }, 'could not read the storage epoch; retrying');
      }
      this.#retryLater();
    }
  }

  #set(epoch: string): void {
    if (epoch === this.#current) return;
    if (this.#current !== undefined) this.#logger.warn({ from: this.#current, to: epoch }, 'storage epoch changed: the data stream was created again; clients will drop their caches');
    else this.#logger.info({ epoch }, 'storage epoch');
    this.#current = epoch;
  }

  #retryLater(): void {
    if (this.#stopped) return;
    const wait = this.#retryMs;
    this.#retryMs = Math.min(RETRY_MAX_MS, this.#retryMs * 2);
    this.#timer = setTimeout(() => void this.refresh(), wait);
    this.#timer.unref();
  }

  /** One partition: its stream and creation time. Several: their count and a hash of every one. */
  #epochOf(parts: readonly string[]): string {
    if (parts.length === 1) return parts[0]!;
    const hash = createHash('sha256').update(parts.join('\n')).digest('hex').slice(0, 16);
    return `${this.#prefix}-index*${parts.length}@${hash}`;
  }

  #watchReconnects(): void {
    this.#stopStatus = watchNatsStatus(
      this.#nc,
      (type) => {
        if (type === 'reconnect') void this.refresh();
      },
      (err) => this.#logger.debug({ err }, 'NATS status watch of the storage epoch ended'),
    );
  }

  /** Stops following: no more reads, timers or subscriptions. */
  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#stopStatus?.();
    if (!this.#nc.isClosed()) for (const sub of this.#advisories) sub.unsubscribe();
  }
}
