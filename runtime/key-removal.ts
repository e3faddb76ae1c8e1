/**
 * Removing a KV key only if it still holds a given revision, leaving nothing behind: a JetStream
 * delete of that one message by its sequence (the revision). A newer write of the key is another
 * message and survives; unlike a KV delete, no marker stays, so the key's subject is gone from the
 * stream (a bucket of history 1 holds no older message of it).
 *
 * Not a purge filtered by subject: nats-server 2.9 loads the whole message block for every such
 * purge and drops its cache afterwards, so purges at connection or actor churn rates allocated
 * gigabytes a minute in nats-server (docs/performance.md, P4). A delete by sequence of a subject's
 * only message is O(1).
 *
 * Used by activation leases (leases.ts) and the socket nodes' connections-per-user count
 * (gateway/socket/quota.ts). The caller's NATS user needs `$JS.API.STREAM.MSG.DELETE.KV_<bucket>`.
 */
import { JetStreamApiError, jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';

/** Code of a failed message delete; nats-server 2.9 says why only in the description. */
const MSG_DELETE_FAILED = 10057;

/** The message is not there: removed already (or replaced: history 1), or beyond the stream's end. */
function isGone(err: unknown): boolean {
  return err instanceof JetStreamApiError && err.code === MSG_DELETE_FAILED && /no message found|EOF/i.test(err.message);
}

export class KeyRemoval {
  readonly #nc: NatsConnection;
  readonly #stream: string;
  #jsm: Promise<JetStreamManager> | undefined;

  constructor(nc: NatsConnection, bucket: string) {
    this.#nc = nc;
    this.#stream = `KV_${bucket}`;
  }

  /** Removes the key's entry at `revision`, if it is still there (gone already: nothing to do). */
  async remove(revision: number): Promise<void> {
    try {
      // Made at first use, without the API check round trip: the bucket exists already.
      this.#jsm ??= jetstreamManager(this.#nc, { checkAPI: false });
      await (await this.#jsm).streams.deleteMessage(this.#stream, revision, false);
    } catch (err) {
      if (isGone(err)) return;
      throw err;
    }
  }
}
