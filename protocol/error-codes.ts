/**
 * Error codes of the public contract, written down once. Server and client both import these; a code a
 * client does not know yet is still a string it can show (new codes may be added, none removed).
 *
 * `{t:"error", id, code, message}` frames (PROTOCOL.md section 3, plus extensions):
 *
 *   bad_frame       not a binary MessagePack map with a string `t`, an unknown `t`, or a value that is not
 *                   standard MessagePack. Fix the client.
 *   bad_request     a malformed request: a field missing, of the wrong type, empty or over-long; a bad
 *                   `base`, `since` or command id. Retrying it as-is fails again.
 *   forbidden       the request names something this connection may not touch.
 *   rate_limited    too many requests on this connection or for this user; retry later.
 *   too_large       a value, command body, frame or commit over its size limit. Split or shrink it.
 *   quota_exceeded  (extension) a per-user or per-device quota is used up (bytes, keys, collections, devices,
 *                   connections, pending commands), or the cluster's storage is full. Delete data or ack
 *                   commands first; retrying unchanged fails until then. The message names the quota.
 *   internal        the storage did not answer in time, a server bug, or an unexpected storage answer;
 *                   retrying later may work.
 */
export const ErrorCode = {
  badFrame: 'bad_frame',
  badRequest: 'bad_request',
  forbidden: 'forbidden',
  rateLimited: 'rate_limited',
  tooLarge: 'too_large',
  quotaExceeded: 'quota_exceeded',
  internal: 'internal',
} as const;

export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** Every frame error code, in a stable order. */
export const ERROR_CODES: readonly ErrorCode[] = Object.freeze(Object.values(ErrorCode));

const ERROR_CODE_SET: ReadonlySet<string> = new Set(ERROR_CODES);

/** True when `code` is one of the protocol's frame error codes. */
export function isErrorCode(code: unknown): code is ErrorCode {
  return typeof code === 'string' && ERROR_CODE_SET.has(code);
}

/**
 * Codes of the distributor's HTTP error answers `{"error":{"code","message"}}` and their statuses
 * (PROTOCOL.md section 2, plus extensions):
 *
 *   bad_request         400  malformed JSON, missing, non-string or over-long fields
 *   unauthorized        401  no bearer token, or one that is invalid or expired: get a new token
 *   forbidden           403  body userId differs from the token's subject
 *   not_found           404  unknown path (or /v1/dev/token outside dev mode)
 *   method_not_allowed  405  known path, wrong method (the `Allow` header lists the right ones)
 *   request_timeout     408  the request body did not arrive in full within the body deadline (slow client)
 *   too_large           413  request body over the cap
 *   quota_exceeded      429  the user has the most devices or connections allowed
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
  request_timeout: 408,
  too_large: 413,
  quota_exceeded: 429,
  rate_limited: 429,
  internal: 500,
  unavailable: 503,
} as const;

export type HttpErrorCode = keyof typeof HTTP_ERROR_STATUS;
