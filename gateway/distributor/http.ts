/**
 * Thin helpers over a uWebSockets.js HttpResponse: abort tracking, a capped body reader, and corked
 * writes. uWS rules they enforce: an HttpResponse must have onAborted before the handler returns if
 * it answers later, must never be touched after it was aborted or ended, and request headers are only
 * readable during the synchronous part of the handler (callers copy what they need first).
 */
import type { HttpResponse } from 'uWebSockets.js';
import { BodyTimeoutError, BodyTooLargeError, HttpError } from './errors.js';

const STATUS_TEXT: Readonly<Record<number, string>> = {
  200: '200 OK',
  204: '204 No Content',
  400: '400 Bad Request',
  401: '401 Unauthorized',
  403: '403 Forbidden',
  404: '404 Not Found',
  405: '405 Method Not Allowed',
  408: '408 Request Timeout',
  413: '413 Content Too Large',
  429: '429 Too Many Requests',
  500: '500 Internal Server Error',
  503: '503 Service Unavailable',
};

/** CORS headers of every /v1/* answer: a browser client served from another origin may call the API. */
export const CORS_HEADERS: Readonly<Record<string, string>> = {
  'Access-Control-Allow-Origin': '*',
  'Access-Control-Expose-Headers': 'Retry-After',
};

/** Answer to a CORS preflight of /v1/*: the bearer token travels in Authorization. */
export const PREFLIGHT_HEADERS: Readonly<Record<string, string>> = {
  ...CORS_HEADERS,
  'Access-Control-Allow-Methods': 'POST, OPTIONS',
  'Access-Control-Allow-Headers': 'Authorization, Content-Type',
  'Access-Control-Max-Age': '600',
};

/** Limits of one request body (Exchange.readBody). */
export interface BodyLimits {
  /** Largest body accepted. */
  readonly maxBytes: number;
  /** A body over maxBytes is still read (and dropped) up to this size, so the 413 arrives intact. */
  readonly drainBytes: number;
  /** The whole body must arrive within this many ms of the headers. */
  readonly timeoutMs: number;
}

/** Raised by readBody when the client went away; nothing is answered. */
export class RequestAbortedError extends Error {
  constructor() {
    super('the client closed the connection before the request was answered');
    this.name = 'RequestAbortedError';
  }
}

/** One request/response exchange. Create it synchronously at the start of the handler. */
export class Exchange {
  readonly res: HttpResponse;
  #aborted = false;
  #done = false;
  #onAbort: (() => void) | undefined;

  constructor(res: HttpResponse) {
    this.res = res;
    res.onAborted(() => {
      this.#aborted = true;
      this.#onAbort?.();
    });
  }

  /** True once the response is finished or the client went away: nothing more may be written. */
  get closed(): boolean {
    return this.#aborted || this.#done;
  }

  /** The peer's address as text (call during the synchronous part of the handler). */
  remoteAddress(): string {
    return Buffer.from(this.res.getRemoteAddressAsText()).toString('latin1');
  }

  /**
   * Reads the whole body, at most `limits.maxBytes`. Must be called synchronously in the handler.
   *
   * A body over the cap is still read to its end (and thrown away) as long as it stays within
   * `limits.drainBytes`, and only then refused (BodyTooLargeError, drained): a server that answers and
   * closes while the client is still sending makes the kernel reset the connection, and the client
   * then sees a reset instead of the 413 (1 run in 4 with uWebSockets.js before this). A body past
   * `drainBytes` (or declared so) is refused at once and the connection closed after the answer.
   * Rejects with BodyTimeoutError when the body is not complete within `limits.timeoutMs` (a stalled
   * or slowloris client), and RequestAbortedError when the client leaves.
   */
  readBody(limits: BodyLimits, declaredLength?: number): Promise<Buffer> {
    return new Promise<Buffer>((resolve, reject) => {
      const { maxBytes, drainBytes, timeoutMs } = limits;
      const chunks: Buffer[] = [];
      let size = 0;
      let settled = false;
      const settle = (error: Error | undefined, body?: Buffer): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (error !== undefined) reject(error);
        else resolve(body!);
      };
      this.#onAbort = () => settle(new RequestAbortedError());
      const timer = setTimeout(() => settle(new BodyTimeoutError(timeoutMs)), timeoutMs);
      if (declaredLength !== undefined && declaredLength > drainBytes) {
        // Reading it all would cost too much: refuse now; closing after the answer is the only option.
        settle(new BodyTooLargeError(maxBytes, false));
        return;
      }
      this.res.onData((chunk, isLast) => {
        if (settled) return;
        size += chunk.byteLength;
        if (size > maxBytes) {
          if (size > drainBytes) settle(new BodyTooLargeError(maxBytes, false));
          else if (isLast) settle(new BodyTooLargeError(maxBytes, true));
          return;
        }
        // uWS neuters the chunk when this callback returns: copy it.
        if (chunk.byteLength > 0) chunks.push(Buffer.from(new Uint8Array(chunk).slice()));
        if (isLast) settle(undefined, chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size));
      });
    });
  }

  /**
   * Writes a complete answer in one corked write. Does nothing when the exchange is already closed.
   * `closeConnection` is for answers sent before the request body was fully read.
   */
  send(status: number, body: string | Buffer, headers: Readonly<Record<string, string>>, closeConnection = false): void {
    if (this.closed) return;
    this.#done = true;
    this.res.cork(() => {
      this.res.writeStatus(STATUS_TEXT[status] ?? String(status));
      for (const key in headers) this.res.writeHeader(key, headers[key]!);
      this.res.end(body, closeConnection);
    });
  }

  json(status: number, value: unknown, headers: Readonly<Record<string, string>> = {}, closeConnection = false): void {
    this.send(status, JSON.stringify(value), { 'Content-Type': 'application/json', ...headers }, closeConnection);
  }

  /** Answers `{"error":{"code","message"}}` for `error`. */
  error(error: HttpError, headers: Readonly<Record<string, string>> = {}, closeConnection = false): void {
    this.json(error.status, { error: { code: error.code, message: error.message } }, { ...headers, ...error.headers }, closeConnection);
  }
}
