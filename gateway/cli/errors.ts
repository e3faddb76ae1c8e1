/**
 * Errors of the `syncmesh` program.
 *
 *   UsageError  a bad flag, environment variable or value: the program prints it and exits with code 2
 *   StartError  the settings are fine but the node could not start (NATS unreachable, port taken): exit 1
 */

/** A bad command line or environment: exit code 2, with the message and a pointer to --help. */
export class UsageError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'UsageError';
  }
}

/** The node or cluster could not start; the message says what to do. Exit code 1. */
export class StartError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StartError';
  }
}
