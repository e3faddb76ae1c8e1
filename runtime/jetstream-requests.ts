/**
 * JetStream requests (reads and writes) over one wildcard reply subscription: the storage's
 * (actors/store) and the runtime's own on its hot paths (activation leases: kv-requests.ts).
 *
 * nats.js's `request()` subscribes nothing per request either, but it builds an Error with a stack
 * trace for every request it completes (`RequestOne.cancel` after the answer: a "cancelled"
 * RequestError nobody sees), and `js.publish` adds a header object, an options copy and a retry loop
 * around it. Under P5 and P7 those were 2.5-3.8% of the storage node's CPU for `RequestError` alone.
 * Here a request is a publish with a reply subject `<inbox>.<token>` and an entry in a map; the
 * answer comes through one subscription callback.
 *
 * Failures are nats.js's own error classes, so retry.ts and writes.ts read them as before: no answer
 * in time is a `TimeoutError`, no JetStream listening (a 503 status answer) a `NoRespondersError`, and
 * a JetStream API error answer a `JetStreamApiError` with its code. When the connection drops, the
 * requests waiting fail at once with `ConnectionLostError` (transient: retry.ts sends them again after
 * the reconnect) instead of each waiting out its timeout for an answer that can no longer come.
 */
import { createInbox, headers as natsHeaders, NoRespondersError, TimeoutError, type Msg, type NatsConnection, type Subscription } from '@nats-io/nats-core';
import { JetStreamApiError, JetStreamError } from '@nats-io/jetstream';
import { watchNatsStatus } from './nats-status.js';
import { TimeSlices } from './time-slices.js';

interface Waiter {
  readonly subject: string;
  readonly resolve: (m: Msg) => void;
  readonly reject: (err: Error) => void;
  readonly timer: NodeJS.Timeout;
}

/** The header of PublishOptions.writeId. */
export const WRITE_ID_HEADER = 'Sm-Write-Id';

/** What a JetStream publish needs besides its subject and payload. */
export interface PublishOptions {
  readonly timeoutMs: number;
  /**
   * `Nats-Msg-Id`: a retry of an applied write is answered "duplicate" with its sequence (within the
   * stream's duplicate window; nats-server keeps every id of the window in memory).
   */
  readonly msgID?: string;
  /**
   * Kept with the message as the {@link WRITE_ID_HEADER} header and nothing else: nats-server does not
   * track it, a reader can tell the writer's attempt by it (the storage's index writes, writes.ts).
   */
  readonly writeId?: string;
  /** `Nats-Expected-Last-Subject-Sequence`: the write is refused (10071) when the subject moved on. */
  readonly expectLastSubjectSequence?: number;
}

/** A JetStream publish acknowledgement. */
export interface PubAck {
  readonly seq: number;
  readonly duplicate: boolean;
}

/** The error a JetStream API answer may carry. */
interface ApiErrorJson {
  error?: { code: number; err_code: number; description: string };
}

interface PubAckJson {
  stream?: string;
  seq?: number;
  duplicate?: boolean;
}

const NO_RESPONDERS = 503;

/** The NATS connection dropped while the request waited: its answer, if any, is lost. Transient. */
export class ConnectionLostError extends Error {
  constructor(subject: string) {
    super(`the NATS connection dropped while a request to ${subject} waited for its answer`);
    this.name = 'ConnectionLostError';
  }
}
/** An answer taken off the waiting map (its timer cleared), to settle in a slice. */
interface Answer {
  readonly w: Waiter;
  readonly m: Msg;
}

function settle(a: Answer): void {
  if (a.m.data.length === 0 && a.m.headers?.code === NO_RESPONDERS) a.w.reject(new NoRespondersError(a.w.subject));
  else a.w.resolve(a.m);
}

/** Answers settled at once in one turn of the loop, at most (the rest go in slices). */
const ANSWERS_AT_ONCE = 64;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export class JetStreamRequests {
  readonly #nc: NatsConnection;
  readonly #prefix: string;
  readonly #waiting = new Map<string, Waiter>();
  readonly #sub: Subscription;
  readonly #stopStatus: () => void;
  /**
   * Answers are settled in time slices (time-slices.ts): what they settle is the storage's work
   * itself (a commit's next write, its push, an activation's queued messages), and a node that fell
   * behind had seconds of it waiting in one socket read. An answer leaves the waiting map, and its
   * timer is cleared, when it arrives: one waiting for its slice does not time out.
   */
  readonly #answers = new TimeSlices<Answer>(settle, { continuations: true, inlineMax: ANSWERS_AT_ONCE });
  #next = 0;

  constructor(nc: NatsConnection) {
    this.#nc = nc;
    // The connection's own inbox prefix: a node's NATS user may subscribe to its role's inboxes only
    // (gateway/nats/connect-options.ts). nats.js keeps it in the connection's options, as its request() reads it.
    const inboxPrefix = (nc as unknown as { options?: { inboxPrefix?: string } }).options?.inboxPrefix;
    this.#prefix = `${createInbox(inboxPrefix)}.`;
    this.#sub = nc.subscribe(`${this.#prefix}*`, { callback: (err, m) => (err === null ? this.#answer(m) : undefined) });
    this.#stopStatus = watchNatsStatus(nc, (type) => {
      if (type === 'disconnect') this.#failAll((subject) => new ConnectionLostError(subject));
    });
  }

  /** Requests on `subject`; rejects with TimeoutError after `timeoutMs`, NoRespondersError on a 503 status. */
  request(subject: string, payload: Uint8Array, timeoutMs: number, headers?: ReturnType<typeof natsHeaders>): Promise<Msg> {
    const token = (this.#next++).toString(36);
    return new Promise<Msg>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiting.delete(token);
        reject(new TimeoutError());
      }, timeoutMs);
      this.#waiting.set(token, { subject, resolve, reject, timer });
      try {
        const reply = this.#prefix + token;
        this.#nc.publish(subject, payload, headers === undefined ? { reply } : { reply, headers });
      } catch (err) {
        clearTimeout(timer);
        this.#waiting.delete(token);
        reject(err instanceof Error ? err : new Error(String(err)));
      }
    });
  }

  /** Publishes to a stream and reads its acknowledgement (JetStreamApiError when JetStream refused). */
  async publish(subject: string, payload: Uint8Array, options: PublishOptions): Promise<PubAck> {
    let h: ReturnType<typeof natsHeaders> | undefined;
    if (options.msgID !== undefined || options.writeId !== undefined || options.expectLastSubjectSequence !== undefined) {
      h = natsHeaders();
      if (options.msgID !== undefined) h.set('Nats-Msg-Id', options.msgID);
      if (options.writeId !== undefined) h.set(WRITE_ID_HEADER, options.writeId);
      if (options.expectLastSubjectSequence !== undefined) h.set('Nats-Expected-Last-Subject-Sequence', String(options.expectLastSubjectSequence));
    }
    const ack = await this.#json<PubAckJson>(await this.request(subject, payload, options.timeoutMs, h), `a publish to ${subject}`);
    if (typeof ack.stream !== 'string' || ack.stream === '' || typeof ack.seq !== 'number') throw new JetStreamError(`JetStream answered a publish to ${subject} without a stream and sequence`);
    return { seq: ack.seq, duplicate: ack.duplicate === true };
  }

  /**
   * A JetStream API request with a JSON body (`$JS.API.*`): resolves with the JSON answer, rejects with
   * JetStreamApiError (the server's code) when it carries an error, JetStreamError when it is not JSON.
   */
  async api<T>(subject: string, body: unknown, timeoutMs: number): Promise<T> {
    return this.#json<T>(await this.request(subject, encoder.encode(JSON.stringify(body)), timeoutMs), `the request to ${subject}`);
  }

  #json<T>(m: Msg, what: string): T & ApiErrorJson {
    let answer: T & ApiErrorJson;
    try {
      answer = JSON.parse(decoder.decode(m.data)) as T & ApiErrorJson;
    } catch (err) {
      throw new JetStreamError(`JetStream answered ${what} with something other than JSON`, { cause: err });
    }
    if (answer.error !== undefined) throw new JetStreamApiError(answer.error);
    return answer;
  }

  /** Stops listening; requests still waiting fail as timed out. */
  close(): void {
    this.#stopStatus();
    if (!this.#nc.isClosed()) this.#sub.unsubscribe();
    this.#answers.flush(); // answered before the close: settled as answered
    this.#failAll(() => new TimeoutError());
  }

  #failAll(error: (subject: string) => Error): void {
    for (const w of this.#waiting.values()) {
      clearTimeout(w.timer);
      w.reject(error(w.subject));
    }
    this.#waiting.clear();
  }

  #answer(m: Msg): void {
    const token = m.subject.slice(this.#prefix.length);
    const w = this.#waiting.get(token);
    if (w === undefined) return; // timed out already
    this.#waiting.delete(token);
    clearTimeout(w.timer);
    this.#answers.push({ w, m });
  }
}
