/**
 * Requests and their answers: client-chosen integer ids, a pending map with deadlines, and one FIFO
 * queue for requests that cannot be sent yet.
 *
 * A request is sent when there is a usable connection, fewer than `maxInFlight` requests await an
 * answer, and the client's own token bucket allows another frame: the socket server answers
 * `rate_limited` beyond its limits (100 frames/s, burst 200, 64 in flight by default), and closes a
 * connection that keeps breaking them, so the client stays under them rather than find out.
 * A request waits in the queue at most `queueTimeoutMs` (and at most `maxQueued` wait), then waits
 * `requestTimeoutMs` for its answer once sent. A `rate_limited` answer means the server did not act on
 * the request: it goes back to the head of the queue and sending pauses, a few times, before the error
 * reaches the caller. If the connection closes first the request fails with ConnectionLostError: it may
 * or may not have been applied, so it is not resent blindly (a resent `send` would deliver twice).
 */
import { toSafeInteger } from './codec.js';
import { ConnectionLostError, OfflineError, ProtocolError, QueueFullError, RequestTimeoutError, serverErrorFromFrame } from './errors.js';
import type { Frame } from './transport.js';

export interface RateLimit {
  /** Frames per second, sustained. */
  readonly perSec: number;
  /** Frames that may go at once after a quiet time. */
  readonly burst: number;
}

export interface RequestLimits {
  readonly requestTimeoutMs: number;
  readonly queueTimeoutMs: number;
  readonly maxQueued: number;
  readonly maxInFlight: number;
  /** False: no pacing on this side. */
  readonly rateLimit: RateLimit | false;
}

/** Kept a little under the socket server's defaults (100/s, burst 200, 64 in flight): acks count too. */
export const REQUEST_DEFAULTS = {
  requestTimeoutMs: 15_000,
  queueTimeoutMs: 30_000,
  maxQueued: 1_000,
  maxInFlight: 32,
  rateLimit: { perSec: 90, burst: 150 },
} as const;

/** Times a `rate_limited` request is put back before the error reaches the caller. */
const RATE_LIMITED_RETRIES = 3;

interface Entry {
  readonly id: number;
  readonly frame: Readonly<Record<string, unknown>>;
  readonly expect: string;
  readonly resolve: (answer: Frame) => void;
  readonly reject: (err: Error) => void;
  timer: ReturnType<typeof setTimeout> | undefined;
  retries: number;
}

/** Sends one frame on the current connection; false when it could not be sent. */
export type SendFrame = (frame: Readonly<Record<string, unknown>>) => boolean;

class TokenBucket {
  #tokens: number;
  #at: number;
  constructor(readonly limit: RateLimit) {
    this.#tokens = limit.burst;
    this.#at = Date.now();
  }
  /** Takes a token: 0 when taken, else the ms until one is there. */
  take(now: number): number {
    this.#tokens = Math.min(this.limit.burst, this.#tokens + ((now - this.#at) * this.limit.perSec) / 1000);
    this.#at = now;
    if (this.#tokens >= 1) {
      this.#tokens -= 1;
      return 0;
    }
    return Math.max(1, Math.ceil(((1 - this.#tokens) * 1000) / this.limit.perSec));
  }
}

export class RequestTracker {
  readonly #limits: RequestLimits;
  readonly #onTimeout: (err: RequestTimeoutError) => void;
  readonly #pending = new Map<number, Entry>();
  readonly #bucket: TokenBucket | undefined;
  #queue: Entry[] = [];
  #nextId = 1;
  #send: SendFrame | undefined;
  #stopped: Error | undefined;
  #pausedUntil = 0;
  #pumpTimer: ReturnType<typeof setTimeout> | undefined;

  /** `onTimeout` hears of every request that got no answer on an open connection (a dead connection, likely). */
  constructor(limits: RequestLimits, onTimeout: (err: RequestTimeoutError) => void) {
    this.#limits = limits;
    this.#onTimeout = onTimeout;
    this.#bucket = limits.rateLimit ? new TokenBucket(limits.rateLimit) : undefined;
  }

  /** Requests sent and not yet answered, plus those queued. */
  get size(): number {
    return this.#pending.size + this.#queue.length;
  }

  /** Requests sent on the current connection and not yet answered. */
  get inFlight(): number {
    return this.#pending.size;
  }

  /** Sends `frame` with a fresh id (now or as soon as allowed); resolves with the answer of type `expect`. */
  request(frame: Readonly<Record<string, unknown>>, expect: string): Promise<Frame> {
    if (this.#stopped) return Promise.reject(this.#stopped);
    if (this.#queue.length >= this.#limits.maxQueued) {
      return Promise.reject(new QueueFullError(`${this.#queue.length} requests already wait to be sent (no connection, or the client is pacing itself under the server's rate limit); try again later`));
    }
    return new Promise<Frame>((resolve, reject) => {
      const id = this.#nextId;
      this.#nextId = this.#nextId >= Number.MAX_SAFE_INTEGER ? 1 : this.#nextId + 1;
      this.#enqueue({ id, frame: { ...frame, id }, expect, resolve, reject, timer: undefined, retries: 0 }, false);
      this.#pump();
    });
  }

  #enqueue(entry: Entry, atHead: boolean): void {
    entry.timer = setTimeout(() => {
      this.#queue = this.#queue.filter((e) => e !== entry);
      const why = this.#send ? 'to be sent (the client paces itself under the server\'s rate limit)' : 'for a connection to the server; check the client\'s status events';
      entry.reject(new RequestTimeoutError(`'${String(entry.frame.t)}' waited ${this.#limits.queueTimeoutMs} ms ${why}`));
    }, this.#limits.queueTimeoutMs);
    if (atHead) this.#queue.unshift(entry);
    else this.#queue.push(entry);
  }

  /** Sends queued requests while the connection, the in-flight limit and the token bucket allow. */
  #pump(): void {
    clearTimeout(this.#pumpTimer);
    this.#pumpTimer = undefined;
    while (this.#send && this.#queue.length > 0 && this.#pending.size < this.#limits.maxInFlight) {
      const now = Date.now();
      const wait = now < this.#pausedUntil ? this.#pausedUntil - now : (this.#bucket?.take(now) ?? 0);
      if (wait > 0) {
        this.#pumpTimer = setTimeout(() => this.#pump(), wait);
        return;
      }
      const entry = this.#queue[0]!;
      if (!this.#transmit(entry)) return;
      this.#queue.shift();
    }
  }

  #transmit(entry: Entry): boolean {
    if (!this.#send?.(entry.frame)) return false;
    clearTimeout(entry.timer);
    this.#pending.set(entry.id, entry);
    entry.timer = setTimeout(() => {
      this.#pending.delete(entry.id);
      const err = new RequestTimeoutError(`no answer to '${String(entry.frame.t)}' (id ${entry.id}) within ${this.#limits.requestTimeoutMs} ms`);
      entry.reject(err);
      this.#onTimeout(err);
      this.#pump();
    }, this.#limits.requestTimeoutMs);
    return true;
  }

  /** A usable connection: send what is queued, in order, and new requests as allowed. */
  online(send: SendFrame): void {
    this.#send = send;
    this.#pump();
  }

  /** No usable connection (closed, or draining): new requests wait in the queue. Answers still count. */
  offline(): void {
    this.#send = undefined;
    clearTimeout(this.#pumpTimer);
    this.#pumpTimer = undefined;
  }

  /** The connection closed: every request sent on it fails with ConnectionLostError. */
  connectionLost(reason: string): void {
    this.offline();
    const sent = [...this.#pending.values()];
    this.#pending.clear();
    for (const entry of sent) {
      clearTimeout(entry.timer);
      entry.reject(new ConnectionLostError(`the connection closed (${reason}) before the server answered '${String(entry.frame.t)}'; it may or may not have been applied`));
    }
  }

  /**
   * Routes an answer frame (one with an `id`) to its request. Returns false when no request waits for it
   * (it timed out already, or the server answered something it was not asked).
   */
  answer(frame: Frame): boolean {
    const id = toSafeInteger(frame.id);
    const entry = id === undefined ? undefined : this.#pending.get(id);
    if (!entry) return false;
    this.#pending.delete(entry.id);
    clearTimeout(entry.timer);
    if (frame.t === 'error' && frame.code === 'rate_limited' && entry.retries < RATE_LIMITED_RETRIES) {
      // Not acted on by the server: pause (longer each time, jittered) and send it again first.
      entry.retries++;
      const delay = 200 * 2 ** entry.retries * (0.5 + Math.random() / 2);
      this.#pausedUntil = Math.max(this.#pausedUntil, Date.now() + delay);
      this.#enqueue(entry, true);
    } else if (frame.t === 'error') entry.reject(serverErrorFromFrame(frame.code, frame.message, entry.id));
    else if (frame.t === entry.expect) entry.resolve(frame);
    else entry.reject(new ProtocolError(`the server answered '${String(entry.frame.t)}' with '${frame.t}', expected '${entry.expect}'`));
    this.#pump();
    return true;
  }

  /** Fails every request, sent or queued, and every later one, with `err`. */
  stop(err: OfflineError): void {
    this.#stopped = err;
    this.offline();
    const all = [...this.#pending.values(), ...this.#queue];
    this.#pending.clear();
    this.#queue = [];
    for (const entry of all) {
      clearTimeout(entry.timer);
      entry.reject(err);
    }
  }

  /** Accepts requests again after stop() (the client was told to reconnect). */
  restart(): void {
    this.#stopped = undefined;
  }
}
