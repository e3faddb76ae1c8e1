/**
 * Room left in a stream, checked by the store before it writes, so that a full stream refuses a write
 * instead of losing old messages.
 *
 * Why JetStream's own limit is not enough: nats-server 2.9, with `discard: new` and `max_bytes`, lets
 * a message in when the stream's bytes plus the message's *payload and headers* fit, but counts the
 * stored size (payload, headers, subject and 30 bytes of framing) against the limit, and then enforces
 * the limit by removing the stream's **oldest** messages. A stream filled to within a subject's length
 * of its limit therefore drops its oldest records to make room: measured with a 64 KiB record stream,
 * a 2-byte value evicted the first record of the collection (test/store/quotas.test.ts).
 *
 * So the store stops short of the limit: it refuses a write that would bring the stream within
 * `margin` of `max_bytes` (1% of the limit, at least 64 KiB, at most a quarter of it), counting its own
 * writes exactly as nats-server stores them and learning the rest (other storage nodes' writes, deleted
 * messages) from the stream's info, re-read at most once a second, and before every write once the
 * stream is within twice the margin of full. JetStream's limit stays the last line behind it.
 */
import type { JetStreamManager } from '@nats-io/jetstream';
import { QuotaExceededError, StoreUnavailableError } from './errors.js';

/** Bytes nats-server 2.9's file store adds to a message's subject, headers and payload. */
const FRAMING_BYTES = 30;
/** What the store's index writes carry in headers (message id, expected last subject sequence). */
export const INDEX_HEADER_BYTES = 128;
const REFRESH_MS = 1_000;

/** The size a message takes in a stream (what `max_bytes` counts). */
export function storedSize(subject: string, payloadBytes: number, headerBytes = 0): number {
  return subject.length + payloadBytes + headerBytes + FRAMING_BYTES;
}

/** The margin the store keeps below a stream's `max_bytes`. */
export function marginFor(maxBytes: number): number {
  return Math.min(Math.max(Math.ceil(maxBytes / 100), 64 * 1024), Math.floor(maxBytes / 4));
}

export class StreamRoom {
  readonly #jsm: JetStreamManager;
  readonly #stream: string;
  #maxBytes = 0;
  /** Bytes in the stream at the last read of its info, plus what this store wrote since. */
  #bytes = 0;
  #readAt = 0;
  #reading: Promise<void> | undefined;

  constructor(jsm: JetStreamManager, stream: string) {
    this.#jsm = jsm;
    this.#stream = stream;
  }

  /**
   * Takes `bytes` of room for a write (storedSize of each message); rejects with QuotaExceededError
   * when the stream would come within its margin of `max_bytes`. Nothing is taken when it rejects.
   */
  async take(bytes: number, what: string): Promise<void> {
    const stale = Date.now() - this.#readAt >= REFRESH_MS;
    if (this.#readAt === 0 || (this.#maxBytes > 0 && this.#bytes + bytes > this.#maxBytes - 2 * marginFor(this.#maxBytes))) await this.#read();
    else if (stale) void this.#read().catch(() => undefined); // far from full: the write need not wait
    if (this.#maxBytes <= 0) return; // no byte limit on this stream
    const limit = this.#maxBytes - marginFor(this.#maxBytes);
    if (this.#bytes + bytes > limit) {
      throw new QuotaExceededError(
        `the storage is full (stream ${this.#stream}: maximum bytes exceeded, ${this.#bytes} of ${this.#maxBytes} bytes used and ${this.#maxBytes - limit} kept free) while writing ${what}; nothing of this request was kept. Delete data, or ask the operator to raise the stream limits (--record-stream-bytes and others)`,
      );
    }
    this.#bytes += bytes;
  }

  #read(): Promise<void> {
    this.#reading ??= this.#jsm.streams
      .info(this.#stream)
      .then(
        (info) => {
          this.#maxBytes = info.config.max_bytes;
          this.#bytes = info.state.bytes;
          this.#readAt = Date.now();
        },
        (err: unknown) => {
          throw new StoreUnavailableError(`could not read how full stream ${this.#stream} is: ${(err as Error).message}; retry later`, { cause: err });
        },
      )
      .finally(() => (this.#reading = undefined));
    return this.#reading;
  }
}
