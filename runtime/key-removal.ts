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
 * Used by activation leases (leases.ts). The caller's NATS user needs `$JS.API.STREAM.MSG.DELETE.KV_<bucket>`.
 */
import { JetStreamApiError, JetStreamError } from '@nats-io/jetstream';
import type { JetStreamRequests } from './jetstream-requests.js';
import { KV_REQUEST_TIMEOUT_MS } from './kv-requests.js';

/** Code of a failed message delete; nats-server 2.9 says why only in the description. */
const MSG_DELETE_FAILED = 10057;

/** The message is not there: removed already (or replaced: history 1), or beyond the stream's end. */
function isGone(err: unknown): boolean {
  return err instanceof JetStreamApiError && err.code === MSG_DELETE_FAILED && /no message found|EOF/i.test(err.message);
}

export class KeyRemoval {
  readonly #requests: JetStreamRequests;
  readonly #subject: string;
  readonly #timeoutMs: number;

  /** Over the node's request channel (jetstream-requests.ts): no nats.js request per removal. */
  constructor(requests: JetStreamRequests, bucket: string, timeoutMs = KV_REQUEST_TIMEOUT_MS) {
    this.#requests = requests;
    this.#subject = `$JS.API.STREAM.MSG.DELETE.KV_${bucket}`;
    this.#timeoutMs = timeoutMs;
  }

  /** Removes the key's entry at `revision`, if it is still there (gone already: nothing to do). */
  async remove(revision: number): Promise<void> {
    // no_erase: the message is dropped, not overwritten first (nats.js's deleteMessage(stream, seq, false)).
    let answer: { success?: boolean };
    try {
      answer = await this.#requests.api<{ success?: boolean }>(this.#subject, { seq: revision, no_erase: true }, this.#timeoutMs);
    } catch (err) {
      if (isGone(err)) return;
      throw err;
    }
    if (answer.success !== true) throw new JetStreamError(`JetStream did not confirm the removal of revision ${revision} (${this.#subject})`);
  }
}
