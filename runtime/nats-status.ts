/**
 * Following a NATS connection's status events (nats.js `status()`): disconnect, reconnect and the rest.
 * One helper for every part that reacts to them (the storage's waiting requests, a socket node's
 * resync and storage epoch, the readiness check), so each does not hand-roll the async iteration.
 */
import type { NatsConnection } from '@nats-io/nats-core';

/**
 * Calls `on(type)` for each status event of `nc` until the returned function is called or the
 * connection closes; `onEnd` hears an iteration that ended with an error.
 */
export function watchNatsStatus(nc: NatsConnection, on: (type: string) => void, onEnd?: (err: unknown) => void): () => void {
  const status = nc.status() as AsyncIterable<{ type: string }> & { stop?: () => void };
  void (async () => {
    try {
      for await (const s of status) on(s.type);
    } catch (err) {
      onEnd?.(err);
    }
  })();
  return () => status.stop?.();
}
