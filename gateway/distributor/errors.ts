/**
 * Errors of the distributor's HTTP API.
 *
 * Every error answer is `{"error":{"code","message"}}`; the codes and their statuses are written down
 * once, in protocol/error-codes.ts (HTTP_ERROR_STATUS). `message` tells the caller what to do about it.
 */
import { HTTP_ERROR_STATUS } from '../../protocol/mod.js';
import type { HttpErrorCode } from '../../protocol/mod.js';

/** An error answered to the HTTP caller as-is. Anything else thrown in a handler becomes `internal`. */
export class HttpError extends Error {
  readonly code: HttpErrorCode;
  readonly status: number;
  /** Extra response headers (Retry-After, Allow). */
  readonly headers: Readonly<Record<string, string>>;

  constructor(code: HttpErrorCode, message: string, options?: { cause?: unknown; headers?: Record<string, string> }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'HttpError';
    this.code = code;
    this.status = HTTP_ERROR_STATUS[code];
    this.headers = options?.headers ?? {};
  }
}

/**
 * A request body over the cap: 413 `too_large`. `drained` says whether the whole body was read
 * (and thrown away) before the answer: then the connection stays usable; otherwise it is closed after
 * the answer, since the unread rest must not be parsed as the next request.
 */
export class BodyTooLargeError extends HttpError {
  readonly drained: boolean;
  constructor(maxBytes: number, drained: boolean) {
    super('too_large', `request body is larger than ${maxBytes} bytes; send a smaller body`);
    this.name = 'BodyTooLargeError';
    this.drained = drained;
  }
}

/** The body did not arrive in time: 408, and the connection is closed after the answer. */
export class BodyTimeoutError extends HttpError {
  constructor(timeoutMs: number) {
    super('request_timeout', `the request body did not arrive within ${timeoutMs} ms; send the whole body at once`);
    this.name = 'BodyTimeoutError';
  }
}

/** Thrown by startDistributor when it cannot listen or is misconfigured. */
export class DistributorStartError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'DistributorStartError';
  }
}
