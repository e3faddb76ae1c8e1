/**
 * Graceful leave on SIGTERM/SIGINT: the node closes (draining, actors stopped and persisted,
 * leases released, a `leave` published) and the process exits.
 */
import type { ActorNode } from './types.js';

export interface SignalOptions {
  /** Signals to handle (default SIGTERM and SIGINT). */
  signals?: NodeJS.Signals[];
  /** Exit the process after close() (default true), with code 0, or 1 if close() failed. */
  exit?: boolean;
  /** Called after close(), before exit (for example to close other resources). */
  afterClose?: () => Promise<void> | void;
}

/** Wires the signals to node.close(). Returns a function that removes the handlers. */
export function installSignalHandlers(node: ActorNode, options: SignalOptions = {}): () => void {
  const signals = options.signals ?? ['SIGTERM', 'SIGINT'];
  let started = false;
  const handler = (signal: NodeJS.Signals): void => {
    if (started) return;
    started = true;
    node.logger.info({ signal }, 'signal received: leaving the cluster');
    node
      .close()
      .then(() => options.afterClose?.())
      .then(
        () => {
          if (options.exit !== false) process.exit(0);
        },
        (err: unknown) => {
          node.logger.error({ err }, 'close after signal failed');
          if (options.exit !== false) process.exit(1);
        },
      );
  };
  for (const s of signals) process.on(s, handler);
  return () => {
    for (const s of signals) process.off(s, handler);
  };
}
