/**
 * Removing a KV key only if it still holds a given revision: a JetStream purge of the key's subject
 * up to and including that revision. A newer write survives and, unlike a KV delete, no marker stays.
 * Used by the session fence (fence.ts) and the connections-per-user count (quota.ts).
 */
import type { JetStreamManager } from '@nats-io/jetstream';

export class KeyPurge {
  readonly #jsm: JetStreamManager;
  readonly #stream: string;
  readonly #subjectPrefix: string;

  constructor(jsm: JetStreamManager, bucket: string) {
    this.#jsm = jsm;
    this.#stream = `KV_${bucket}`;
    this.#subjectPrefix = `$KV.${bucket}.`;
  }

  /** Purges `key` up to and including `revision`. */
  async upTo(key: string, revision: number): Promise<void> {
    await this.#jsm.streams.purge(this.#stream, { filter: this.#subjectPrefix + key, seq: revision + 1 });
  }
}
