/**
 * Errors of the socket server. Each class extends Error, sets `name` and accepts `{ cause }`.
 * (Ticket refusals are gateway/ticket.ts TicketError; they become HTTP 401 answers, not throws.)
 */

/** Wrong options or a node that cannot host sessions. The message says what to change. */
export class SocketConfigError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'SocketConfigError';
  }
}

/** The server could not start (port taken, NATS or JetStream unreachable). */
export class SocketStartError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'SocketStartError';
  }
}

