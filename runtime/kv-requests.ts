/**
 * The KV operations on the runtime's hot path (activation leases: read, create, update, remove by
 * revision), over JetStreamRequests: one reply subscription per node, instead of nats.js's KV client,
 * whose every request builds an AbortSignal and, once answered, a "cancelled" RequestError with a stack
 * trace. In a reconnect storm each returning device activates its user's store actor again, and those
 * were the storage node's last requests through nats.js (docs/performance.md, P7 "Session 11").
 *
 * The subjects and the meaning are nats.js's KV client's, so both read and write the same buckets:
 * - get: Direct Get of the key's last message (`$JS.API.DIRECT.GET.KV_<bucket>`, `last_by_subj`), as
 *   nats.js does for a bucket with `allow_direct` (every bucket the runtime opens, streams.ts). A
 *   delete or purge marker (`KV-Operation` header) is an entry with that operation;
 * - create: a put on `$KV.<bucket>.<key>` expecting no message on the key's subject. Refused with the
 *   compare-and-set error (10071) while the key holds a value; over a delete or purge marker it is an
 *   update at the marker's revision (nats.js's `create` does the same);
 * - update: a put expecting the key's last revision (10071 when another write came first);
 * - the removal of an entry by its revision is key-removal.ts.
 * Failures are nats.js's error classes (JetStreamRequests): TimeoutError, NoRespondersError,
 * JetStreamApiError with the server's code, and ConnectionLostError when the connection drops.
 */
import { JetStreamApiError, JetStreamError } from '@nats-io/jetstream';
import type { JetStreamRequests } from './jetstream-requests.js';

/** A key's current entry. `operation` is PUT for a value, DEL or PURGE for a marker a KV delete or purge left. */
export interface KvEntry {
  readonly value: Uint8Array;
  readonly revision: number;
  readonly operation: 'PUT' | 'DEL' | 'PURGE';
}

/** The compare-and-set refusal: the key's subject has another last sequence than the one expected. */
const WRONG_LAST_SEQUENCE = 10071;
const NOT_FOUND = 404;
const encoder = new TextEncoder();

/** How long one request waits for its answer (nats.js's default for JetStream requests). */
export const KV_REQUEST_TIMEOUT_MS = 5_000;

export class KvRequests {
  readonly #requests: JetStreamRequests;
  readonly #bucket: string;
  readonly #getSubject: string;
  readonly #timeoutMs: number;

  constructor(requests: JetStreamRequests, bucket: string, timeoutMs = KV_REQUEST_TIMEOUT_MS) {
    this.#requests = requests;
    this.#bucket = bucket;
    this.#getSubject = `$JS.API.DIRECT.GET.KV_${bucket}`;
    this.#timeoutMs = timeoutMs;
  }

  /** The key's entry, or null when the key has no message. */
  async get(key: string): Promise<KvEntry | null> {
    const m = await this.#requests.request(this.#getSubject, encoder.encode(JSON.stringify({ last_by_subj: this.#subject(key) })), this.#timeoutMs);
    const h = m.headers;
    if (h?.hasError) {
      if (h.code === NOT_FOUND) return null;
      throw new JetStreamError(`reading key ${key} of KV bucket ${this.#bucket} failed: ${h.code} ${h.description}`);
    }
    const revision = Number(h?.last('Nats-Sequence'));
    if (!Number.isSafeInteger(revision) || revision <= 0) throw new JetStreamError(`reading key ${key} of KV bucket ${this.#bucket}: the answer has no sequence`);
    const op = h?.last('KV-Operation');
    return { value: m.data, revision, operation: op === 'DEL' || op === 'PURGE' ? op : 'PUT' };
  }

  /** Writes `value` if the key has no value (none ever, or a delete marker); resolves with the revision. */
  async create(key: string, value: Uint8Array): Promise<number> {
    try {
      return await this.#put(key, value, 0);
    } catch (err) {
      if (!(err instanceof JetStreamApiError) || err.code !== WRONG_LAST_SEQUENCE) throw err;
      const e = await this.get(key);
      if (e === null || e.operation === 'PUT') throw err;
      return this.#put(key, value, e.revision);
    }
  }

  /** Writes `value` if the key's last revision is still `revision`; resolves with the new revision. */
  update(key: string, value: Uint8Array, revision: number): Promise<number> {
    return this.#put(key, value, revision);
  }

  async #put(key: string, value: Uint8Array, expected: number): Promise<number> {
    const ack = await this.#requests.publish(this.#subject(key), value, { timeoutMs: this.#timeoutMs, expectLastSubjectSequence: expected });
    return ack.seq;
  }

  #subject(key: string): string {
    return `$KV.${this.#bucket}.${key}`;
  }
}

