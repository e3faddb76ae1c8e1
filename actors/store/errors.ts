/**
 * Errors of the cloud storage. Each class extends StoreError, sets `name` and accepts `{ cause }`.
 *
 * `code` is the public error code (PROTOCOL.md section 3) the socket server puts in the `error`
 * frame. The runtime's replyError() carries it across NATS as the application code (`appCode` of
 * RemoteActorError), so a session can answer the client without knowing these classes:
 *
 *   bad_request   a malformed request: collection, key, user or device id missing, empty, over-long
 *                 or not well-formed Unicode; a change with neither `value` nor `deleted`; a bad
 *                 `base`, `since` or command id. Fix the request; retrying it as-is fails again.
 *   too_large     a value, command body or commit over its size limit, or too many changes in one
 *                 commit. Split or shrink it.
 *   rate_limited  too many requests of one user at work at once (the store actor). Retry shortly.
 *   quota_exceeded  a quota of limits.ts is used up: bytes per user, keys per collection, collections
 *                 per user, devices per user, unacknowledged commands per target device, a command to a
 *                 device that never connected, or a storage stream (or JetStream itself) is full. The
 *                 message names the quota and how to free room; retrying as-is fails again.
 *   internal      JetStream could not be reached or answered an unexpected error, or this user's data
 *                 was changed meanwhile by another storage node (the user's store moved): retrying
 *                 later works; the log has the cause.
 */
import { ErrorCode } from '../../protocol/mod.js';

/** The public codes storage errors use (protocol/error-codes.ts writes them down). */
export const StoreErrorCodes = {
  badRequest: ErrorCode.badRequest,
  tooLarge: ErrorCode.tooLarge,
  rateLimited: ErrorCode.rateLimited,
  quotaExceeded: ErrorCode.quotaExceeded,
  internal: ErrorCode.internal,
} as const;

export type StoreErrorCode = (typeof StoreErrorCodes)[keyof typeof StoreErrorCodes];

/** Base class: every storage error has a public `code`. */
export class StoreError extends Error {
  readonly code: StoreErrorCode;
  constructor(code: StoreErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StoreError';
    this.code = code;
  }
}

/** The request is malformed; the message names the field and the rule it broke. */
export class BadRequestError extends StoreError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(StoreErrorCodes.badRequest, message, options);
    this.name = 'BadRequestError';
  }
}

/** A value, body or commit is over its limit; the message names the limit. */
export class TooLargeError extends StoreError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(StoreErrorCodes.tooLarge, message, options);
    this.name = 'TooLargeError';
  }
}

/** Too many requests at work at once; retry shortly. */
export class RateLimitedError extends StoreError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(StoreErrorCodes.rateLimited, message, options);
    this.name = 'RateLimitedError';
  }
}

/** A quota (limits.ts) or a stream's byte limit is used up; the message names it and how to free room. */
export class QuotaExceededError extends StoreError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(StoreErrorCodes.quotaExceeded, message, options);
    this.name = 'QuotaExceededError';
  }
}

/**
 * A fenced write lost: this user's index moved on since this node read it (another storage node wrote
 * it, the user's store actor moved), so nothing of this request became visible. Code `internal`:
 * the request can be retried, and reaches the current holder.
 */
export class StaleWriteError extends StoreError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(StoreErrorCodes.internal, message, options);
    this.name = 'StaleWriteError';
  }
}

/** JetStream did not answer as expected (unreachable, timed out, or an unexpected API error). */
export class StoreUnavailableError extends StoreError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(StoreErrorCodes.internal, message, options);
    this.name = 'StoreUnavailableError';
  }
}

/** Thrown by createCloudStore when its streams cannot be created or have an incompatible configuration. */
export class StoreSetupError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StoreSetupError';
  }
}
