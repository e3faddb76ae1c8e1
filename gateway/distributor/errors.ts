/**
 * Errors of the distributor's HTTP API.
 *
 * Every error answer is `{"error":{"code","message"}}` with one of these codes; the status follows
 * from the code (written down once, here). `message` tells the caller what to do about it.
 *
 *   bad_request         400  malformed JSON, missing, non-string or over-long fields, body over the cap
 *   unauthorized        401  no bearer token, or one that is invalid or expired: get a new token
 *   forbidden           403  body userId differs from the token's subject
 *   not_found           404  unknown path (or /v1/dev/token outside dev mode)
 *   method_not_allowed  405  known path, wrong method (the `Allow` header lists the right ones)
 *   rate_limited        429  too many requests from this user or address; `Retry-After` says when to retry
 *   internal            500  a bug: the message is generic, the log has the cause
 *   unavailable         503  no live socket server (or the distributor is starting/closing); `Retry-After`
 */
export const HTTP_ERROR_STATUS = {
  bad_request: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  method_not_allowed: 405,
  rate_limited: 429,
  internal: 500,
  unavailable: 503,
} as const;

export type HttpErrorCode = keyof typeof HTTP_ERROR_STATUS;

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
