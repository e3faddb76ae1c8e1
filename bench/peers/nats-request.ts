/**
 * Peer (informational): nats.js `request()` against the same responder as the correlation-id RPC.
 * It pays for a timeout timer and a promise bookkeeping object per request, which is what an
 * application gets from the library without writing its own correlation.
 */
import type { NatsConnection } from '@nats-io/nats-core';
import { decode, encode } from '../../protocol/mod.js';
import type { RemoteCaller } from '../caller.js';
import { checkEcho, ping } from '../payload.js';
import { RPC_SUBJECT } from './raw-rpc.js';

export function natsRequestCaller(nc: NatsConnection, timeoutMs = 10_000): RemoteCaller {
  const name = 'nats.js request()';
  return {
    name,
    async call(n: number): Promise<void> {
      const msg = await nc.request(RPC_SUBJECT, encode(ping(n)), { timeout: timeoutMs });
      checkEcho(name, n, decode(msg.data));
    },
    async close(): Promise<void> {},
  };
}
