/**
 * One socket write per event-loop turn for a NATS connection, instead of one per macrotask.
 *
 * nats.js queues what a connection sends in a buffer and writes it to the socket from a microtask,
 * so everything sent within one macrotask leaves in one write. A socket node's work arrives as
 * uWebSockets.js events, and each event is a macrotask of its own: a reconnect storm of 700
 * connections a second made about 3,000 socket writes a second (a quota request, a fence
 * announcement, a pending-commands ask, answers), and `writeBuffer` was the largest item of the socket
 * and storage nodes' CPU profiles after idle (10-11% of their samples in P7, docs/performance.md).
 *
 * Here the flush that nats.js asks for is moved to `setImmediate`: it runs once the event loop has
 * handled every event that was ready (the poll phase), so all of them share one write. On an idle
 * node that is a few microseconds later; under load it is what batches. What is sent is unchanged and
 * in the same order; only the moment of the write moves. A buffer that reaches nats.js's own limit
 * (`pendingLimit`) is written at once, as before, and `close()` writes what is buffered first.
 *
 * This reaches into nats.js's protocol handler (`flushPending`, `close`), which it does not export as
 * API: the shape is checked, and a connection that lacks it is left as it is (and said so), so a
 * future nats.js only loses the batching. test/runtime/write-coalescing.test.ts checks both.
 */
import type { NatsConnection } from '@nats-io/nats-core';

interface ProtocolShape {
  flushPending: () => void;
  close: (err?: Error) => Promise<void>;
  outbound: { size: () => number };
  pendingLimit: number;
}

function protocolOf(nc: NatsConnection): ProtocolShape | undefined {
  const p = (nc as unknown as { protocol?: Partial<ProtocolShape> }).protocol;
  if (p === undefined || p === null) return undefined;
  if (typeof p.flushPending !== 'function' || typeof p.close !== 'function') return undefined;
  if (typeof p.outbound?.size !== 'function' || typeof p.pendingLimit !== 'number') return undefined;
  return p as ProtocolShape;
}

/** Marks a connection already changed, so that applying twice is harmless. */
const COALESCED = Symbol('syncmesh.coalescedWrites');

/**
 * Makes `nc` write to its socket at most once per event-loop turn (see the file comment). Returns
 * false, changing nothing, when the connection is not the nats.js shape this knows.
 */
export function coalesceWrites(nc: NatsConnection): boolean {
  const p = protocolOf(nc);
  if (p === undefined) return false;
  const marked = p as ProtocolShape & { [COALESCED]?: true };
  if (marked[COALESCED]) return true;
  marked[COALESCED] = true;
  const flushNow = p.flushPending.bind(p);
  const close = p.close.bind(p);
  let armed = false;
  const flushArmed = (): void => {
    armed = false;
    flushNow();
  };
  p.flushPending = () => {
    if (p.outbound.size() >= p.pendingLimit) {
      flushNow();
      return;
    }
    if (armed) return;
    armed = true;
    setImmediate(flushArmed);
  };
  p.close = (err?: Error) => {
    flushNow();
    return close(err);
  };
  return true;
}
