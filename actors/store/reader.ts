/**
 * Reads single messages of a stream by sequence or subject, the only reads the storage needs.
 *
 * Two ways, picked by the stream's replica count:
 * - one replica: the Direct Get API (`$JS.API.DIRECT.GET.<stream>`), answered with the raw message,
 *   no JSON, no base64. With one server holding the stream it is as fresh as the write path.
 * - several replicas: the leader-only Message Get API (`$JS.API.STREAM.MSG.GET.<stream>`). Direct
 *   gets would be answered by any replica, and a follower may not have applied a write the leader
 *   already acknowledged: a device told to `sync` could pull and miss the very change it was told about.
 *
 * Only reads that cost the same however much else the stream holds: by sequence, and `last_by_subj`
 * on a literal subject (nats-server 2.9 keeps per-subject state). A wildcard or `next_by_subj` read
 * scans the stream from its start sequence on 2.9, so the storage never makes one.
 */
import { MsgHdrsImpl, type Msg } from '@nats-io/nats-core';
import { WRITE_ID_HEADER, type JetStreamRequests } from '../../runtime/mod.js';
import { StoreUnavailableError } from './errors.js';
import { retryTransient } from './retry.js';

/** One stored message. */
export interface StoredMessage {
  readonly seq: number;
  readonly subject: string;
  readonly data: Uint8Array;
  /**
   * The id of the write attempt that stored it (the `Sm-Write-Id` header; `Nats-Msg-Id` for index
   * messages written before it), when it has one: writes.ts recognises its own writes by it.
   */
  readonly writeId?: string;
}

/** Single-message reads of one stream. Each resolves null when no message matches. */
export interface StreamReader {
  /** The latest message on `subject` (a literal subject, no wildcards). */
  last(subject: string): Promise<StoredMessage | null>;
  /** The message with sequence `seq`. */
  at(seq: number): Promise<StoredMessage | null>;
}

export interface StreamReaderOptions {
  /** Use Direct Get (only safe with one replica; see above). */
  direct: boolean;
  /** Deadline of one request. */
  timeoutMs: number;
  /** How long a read keeps retrying while JetStream is unreachable (retry.ts). */
  retryForMs: number;
}

const NO_MESSAGE_FOUND = 10037;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

type Query = { seq: number } | { last_by_subj: string };

interface MsgGetAnswer {
  message?: { subject: string; seq: number; data?: string; hdrs?: string };
  error?: { code: number; err_code?: number; description?: string };
}

/** A reader of `stream` over the storage's request channel. */
export function streamReader(requests: JetStreamRequests, stream: string, options: StreamReaderOptions): StreamReader {
  const directSubject = `$JS.API.DIRECT.GET.${stream}`;
  const getSubject = `$JS.API.STREAM.MSG.GET.${stream}`;

  const request = async (subject: string, query: Query): Promise<Msg> => {
    try {
      const payload = encoder.encode(JSON.stringify(query));
      return await retryTransient(options.retryForMs, () => requests.request(subject, payload, options.timeoutMs));
    } catch (err) {
      throw new StoreUnavailableError(`reading stream ${stream} failed: ${(err as Error).message}; is JetStream up?`, { cause: err });
    }
  };

  const direct = async (query: Query): Promise<StoredMessage | null> => {
    const m = await request(directSubject, query);
    const h = m.headers;
    if (h?.hasError) {
      if (h.code === 404) return null;
      throw new StoreUnavailableError(`direct get on stream ${stream} answered ${h.code} ${h.description}`);
    }
    const seq = Number(h?.last('Nats-Sequence'));
    const subject = h?.last('Nats-Subject') ?? '';
    if (!Number.isSafeInteger(seq) || subject === '') {
      throw new StoreUnavailableError(`direct get on stream ${stream} answered without sequence or subject headers`);
    }
    const writeId = h?.last(WRITE_ID_HEADER) || h?.last('Nats-Msg-Id');
    return writeId ? { seq, subject, data: m.data, writeId } : { seq, subject, data: m.data };
  };

  const leader = async (query: Query): Promise<StoredMessage | null> => {
    const m = await request(getSubject, query);
    let answer: MsgGetAnswer;
    try {
      answer = JSON.parse(decoder.decode(m.data)) as MsgGetAnswer;
    } catch (err) {
      throw new StoreUnavailableError(`message get on stream ${stream} answered non-JSON`, { cause: err });
    }
    if (answer.error) {
      if (answer.error.err_code === NO_MESSAGE_FOUND) return null;
      throw new StoreUnavailableError(`message get on stream ${stream} failed: ${answer.error.description ?? answer.error.code}`);
    }
    const msg = answer.message;
    if (!msg) throw new StoreUnavailableError(`message get on stream ${stream} answered without a message`);
    const data = msg.data ? new Uint8Array(Buffer.from(msg.data, 'base64')) : new Uint8Array(0);
    const hdrs = msg.hdrs ? MsgHdrsImpl.decode(Buffer.from(msg.hdrs, 'base64')) : undefined;
    const writeId = hdrs ? hdrs.last(WRITE_ID_HEADER) || hdrs.last('Nats-Msg-Id') || undefined : undefined;
    return writeId ? { seq: msg.seq, subject: msg.subject, data, writeId } : { seq: msg.seq, subject: msg.subject, data };
  };

  const get = options.direct ? direct : leader;
  return {
    last: (subject) => get({ last_by_subj: subject }),
    at: (seq) => get({ seq }),
  };
}
