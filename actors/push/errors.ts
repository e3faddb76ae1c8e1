/**
 * Errors of the push server. A push request is a fire-and-forget `tell`: the push actor logs these
 * and drops the request; publishPush() throws them to direct callers.
 */

/** The condition or command of a push request is malformed; the message says which field. */
export class BadPushError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'BadPushError';
  }
}
