/**
 * Requests and their answers: client-chosen integer ids, a pending map with deadlines, and a bounded
 * queue for requests made while there is no usable connection.
 *
 * A request waits in the queue (at most `maxQueued`, each at most `queueTimeoutMs`) until a connection
 * is up, then is sent and waits `requestTimeoutMs` for its answer. If the connection closes first the
 * request fails with ConnectionLostError: it may or may not have been applied, so it is not resent
 * blindly (a resent `send` would deliver a command twice).
 */
import { toSafeInteger } from './codec.js';
import { ConnectionLostError, OfflineError, ProtocolError, QueueFullError, RequestTimeoutError, serverErrorFromFrame } from './errors.js';
import type { Frame } from './transport.js';

export interface RequestLimits {
  readonly requestTimeoutMs: number;
  readonly queueTimeoutMs: number;
  readonly maxQueued: number;
}

interface Entry {
  readonly id: number;
  readonly frame: Readonly<Record<string, unknown>>;
  readonly expect: string;
  readonly resolve: (answer: Frame) => void;
  readonly reject: (err: Error) => void;
  timer: ReturnType<typeof setTimeout> | undefined;
}

/** Sends one frame on the current connection; false when it could not be sent. */
export type SendFrame = (frame: Readonly<Record<string, unknown>>) => boolean;

export class RequestTracker {
  readonly #limits: RequestLimits;
  readonly #onTimeout: (err: RequestTimeoutError) => void;
  readonly #pending = new Map<number, Entry>();
  #queue: Entry[] = [];
  #nextId = 1;
  #send: SendFrame | undefined;
  #stopped: Error | undefined;

  /** `onTimeout` hears of every request that got no answer on an open connection (a dead connection, likely). */
  constructor(limits: RequestLimits, onTimeout: (err: RequestTimeoutError) => void) {
    this.#limits = limits;
    this.#onTimeout = onTimeout;
  }

  /** Requests sent and not yet answered, plus those queued. */
  get size(): number {
    return this.#pending.size + this.#queue.length;
  }

  /** Sends `frame` with a fresh id (now or once a connection is up); resolves with the answer of type `expect`. */
  request(frame: Readonly<Record<string, unknown>>, expect: string): Promise<Frame> {
    if (this.#stopped) return Promise.reject(this.#stopped);
    return new Promise<Frame>((resolve, reject) => {
      const id = this.#nextId;
      this.#nextId = this.#nextId >= Number.MAX_SAFE_INTEGER ? 1 : this.#nextId + 1;
      const entry: Entry = { id, frame: { ...frame, id }, expect, resolve, reject, timer: undefined };
      if (this.#send && this.#queue.length === 0 && this.#transmit(entry)) return;
      if (this.#queue.length >= this.#limits.maxQueued) {
        reject(new QueueFullError(`${this.#queue.length} requests already wait for a connection; try again once the client is connected`));
        return;
      }
      this.#enqueue(entry);
    });
  }

  #enqueue(entry: Entry): void {
    entry.timer = setTimeout(() => {
      this.#queue = this.#queue.filter((e) => e !== entry);
      entry.reject(new RequestTimeoutError(`'${String(entry.frame.t)}' waited ${this.#limits.queueTimeoutMs} ms for a connection to the server; check the client's status events`));
    }, this.#limits.queueTimeoutMs);
    this.#queue.push(entry);
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
    }, this.#limits.requestTimeoutMs);
    return true;
  }

  /** A usable connection: send everything queued, in order, and new requests at once. */
  online(send: SendFrame): void {
    this.#send = send;
    while (this.#queue.length > 0) {
      const entry = this.#queue[0]!;
      if (!this.#transmit(entry)) return;
      this.#queue.shift();
    }
  }

  /** No usable connection (closed, or draining): new requests wait in the queue. Answers still count. */
  offline(): void {
    this.#send = undefined;
  }

  /** The connection closed: every request sent on it fails with ConnectionLostError. */
  connectionLost(reason: string): void {
    this.#send = undefined;
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
    if (frame.t === 'error') entry.reject(serverErrorFromFrame(frame.code, frame.message, entry.id));
    else if (frame.t === entry.expect) entry.resolve(frame);
    else entry.reject(new ProtocolError(`the server answered '${String(entry.frame.t)}' with '${frame.t}', expected '${entry.expect}'`));
    return true;
  }

  /** Fails every request, sent or queued, and every later one, with `err`. */
  stop(err: OfflineError): void {
    this.#stopped = err;
    this.#send = undefined;
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
