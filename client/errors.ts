/**
 * Every error the Syncmesh client raises or emits. Each extends SyncError, sets `name` and accepts
 * `{ cause }`. Wire codes (error frames, distributor error bodies) become these classes in one place:
 * {@link serverErrorFromFrame} and {@link distributorErrorFromResponse}.
 */

import { ERROR_CODES, type ErrorCode } from '../protocol/mod.js';
import type { ResponseLike } from './transport.js';

/** Codes of `{t:"error"}` frames (PROTOCOL.md section 3 and extensions), from protocol/. */
export const SERVER_ERROR_CODES: readonly ErrorCode[] = ERROR_CODES;
export type ServerErrorCode = ErrorCode;

/** Base class: `instanceof SyncError` catches everything the client throws on purpose. */
export class SyncError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'SyncError';
  }
}

/** The server answered a request with an `error` frame. */
export class ServerError extends SyncError {
  /** One of SERVER_ERROR_CODES, or a newer code this client does not know yet. */
  readonly code: ServerErrorCode | (string & {});
  /** The request id the error answers, when it answers one. */
  readonly requestId: number | undefined;
  constructor(code: string, message: string, requestId?: number, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ServerError';
    this.code = code;
    this.requestId = requestId;
  }
}

/** The distributor refused to hand out a socket (any non-2xx answer other than a refused token). */
export class DistributorError extends SyncError {
  readonly status: number;
  readonly code: string;
  /** From `Retry-After`, when the distributor sent one. */
  readonly retryAfterMs: number | undefined;
  constructor(status: number, code: string, message: string, retryAfterMs?: number, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'DistributorError';
    this.status = status;
    this.code = code;
    this.retryAfterMs = retryAfterMs;
  }
}

/** The token was refused (401) even after asking `getToken` for a fresh one. The client goes offline. */
export class AuthError extends SyncError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'AuthError';
  }
}

/** No answer to a request within its deadline. */
export class RequestTimeoutError extends SyncError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'RequestTimeoutError';
  }
}

/**
 * The connection closed after a request was sent and before its answer arrived: the server may or may
 * not have applied it. Pull (or read the cache after the next sync) to see what happened.
 */
export class ConnectionLostError extends SyncError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ConnectionLostError';
  }
}

/** Too many requests are already waiting for a connection. */
export class QueueFullError extends SyncError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'QueueFullError';
  }
}

/** The client stopped for good (closed by the application, replaced by another session, or refused). */
export class OfflineError extends SyncError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'OfflineError';
  }
}

/** The server sent something the protocol does not allow (undecodable frame, wrong field types). */
export class ProtocolError extends SyncError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ProtocolError';
  }
}

/**
 * The server refused a queued write for good (`code`: bad_request, too_large, quota_exceeded, ...), so
 * the client dropped it from its outbox; reads show the server's state of its keys again. Emitted as an
 * 'error' event (the write's own promise rejects with the ServerError, its `cause`).
 */
export class WriteRejectedError extends SyncError {
  readonly txid: string;
  readonly collection: string;
  readonly keys: readonly string[];
  readonly code: string;
  constructor(txid: string, collection: string, keys: readonly string[], code: string, cause: Error) {
    super(`the server refused a write to '${collection}' (${keys.slice(0, 5).join(', ')}${keys.length > 5 ? ', ...' : ''}) with ${code}: ${cause.message}; it was dropped, change the data and write again`, { cause });
    this.name = 'WriteRejectedError';
    this.txid = txid;
    this.collection = collection;
    this.keys = keys;
    this.code = code;
  }
}

/** The persistent cache could not be opened or written. The in-memory copy stays correct. */
export class CacheStorageError extends SyncError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'CacheStorageError';
  }
}

/** An event listener of the application threw; the client carries on. */
export class ListenerError extends SyncError {
  readonly event: string;
  constructor(event: string, options?: { cause?: unknown }) {
    super(`a listener of '${event}' threw: ${describe(options?.cause)}`, options);
    this.name = 'ListenerError';
    this.event = event;
  }
}

function describe(cause: unknown): string {
  return cause instanceof Error ? cause.message : String(cause);
}

/** The one boundary where an `error` frame becomes an Error. */
export function serverErrorFromFrame(code: unknown, message: unknown, requestId?: number): ServerError {
  const c = typeof code === 'string' && code.length > 0 ? code : 'internal';
  const m = typeof message === 'string' && message.length > 0 ? message : `the server refused the request (${c})`;
  return new ServerError(c, m, requestId);
}

/**
 * The one boundary where a distributor answer that is not 2xx becomes an Error. Reads the
 * `{"error":{"code","message"}}` body when there is one and `Retry-After` (seconds or an HTTP date).
 */
export async function distributorErrorFromResponse(res: ResponseLike, now: number): Promise<DistributorError> {
  let code = `http_${res.status}`;
  let message = `the distributor answered HTTP ${res.status}`;
  try {
    const body = (await res.json()) as { error?: { code?: unknown; message?: unknown } };
    if (typeof body.error?.code === 'string') code = body.error.code;
    if (typeof body.error?.message === 'string') message = `${message}: ${body.error.message}`;
  } catch {
    // Not JSON (a proxy's error page, say): the status alone has to do.
  }
  return new DistributorError(res.status, code, message, parseRetryAfter(res.headers.get('retry-after'), now));
}

/** `Retry-After` as milliseconds: delta-seconds or an HTTP date; undefined when absent or unreadable. */
export function parseRetryAfter(header: string | null, now: number): number | undefined {
  if (header === null || header.trim() === '') return undefined;
  const trimmed = header.trim();
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Math.round(Number(trimmed) * 1000);
  const at = Date.parse(trimmed);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}
