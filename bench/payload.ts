/**
 * The one request every remote peer carries: the same fields, MessagePack-encoded for NATS peers,
 * JSON for Moleculer (its own serializer). `n` is unique per request, so every echo is checked
 * against the request it answers: a peer that mixed up replies could not score.
 */
import { BenchMeasureError } from './errors.js';

/** A type alias, not an interface, so it is assignable to the runtime's ActorMessage (an index signature). */
export type PingEvent = {
  readonly type: 'ping';
  readonly n: number;
  readonly payload: string;
};

const PAYLOAD = 'x'.repeat(32);

/** A fresh ping with sequence number `n`. */
export function ping(n: number): PingEvent {
  return { type: 'ping', n, payload: PAYLOAD };
}

/** Throws unless `echo` is the echo of ping `n`. */
export function checkEcho(peer: string, n: number, echo: unknown): void {
  const e = echo as Partial<PingEvent> | null | undefined;
  if (e && e.type === 'ping' && e.n === n && e.payload === PAYLOAD) return;
  throw new BenchMeasureError(
    `${peer} answered ping ${n} with ${JSON.stringify(echo)?.slice(0, 200)}: replies are mixed up or corrupted; ` +
      'fix the peer before trusting any figure',
  );
}
