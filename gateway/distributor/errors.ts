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
 * A request body over the cap. Answered as bad_request, and the connection is closed after the
 * answer: the unread rest of the body must not be parsed as the next request.
 */
export class BodyTooLargeError extends HttpError {
  constructor(maxBytes: number) {
    super('bad_request', `request body is larger than ${maxBytes} bytes; send a smaller body`);
    this.name = 'BodyTooLargeError';
  }
}

/** Thrown by startDistributor when it cannot listen or is misconfigured. */
export class DistributorStartError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'DistributorStartError';
  }
}
