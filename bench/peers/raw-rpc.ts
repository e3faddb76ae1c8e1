/**
 * Peer: correlation-id RPC on bare nats.js, the floor that P1 and P2 are measured against.
 *
 * The responder decodes each request and publishes the encoded echo to its reply subject. The
 * requester keeps ONE wildcard subscription `<inbox>.*`, sends each request with reply subject
 * `<inbox>.<corrId>` and settles the matching promise from a Map: no per-request subscription,
 * timer or header. The payload goes through the project's codec, as our runtime's does.
 */
import { createInbox, type Msg, type NatsConnection, type Subscription } from '@nats-io/nats-core';
import { decode, encode } from '../../protocol/mod.js';
import type { RemoteCaller } from '../caller.js';
import { checkEcho, ping } from '../payload.js';

/** Subject the responder listens on (also used by the nats.js `request()` peer). */
export const RPC_SUBJECT = 'bench.rpc.echo';

/** Answers every request on RPC_SUBJECT with the re-encoded echo. Returns the subscription. */
export function startRpcResponder(nc: NatsConnection): Subscription {
  return nc.subscribe(RPC_SUBJECT, {
    callback: (err: Error | null, msg: Msg) => {
      if (err || !msg.reply) return; // a subscription error closes it; nothing to answer
      nc.publish(msg.reply, encode(decode(msg.data)));
    },
  });
}

interface Pending {
  readonly n: number;
  readonly resolve: () => void;
  readonly reject: (err: unknown) => void;
}

/** The requesting side: one wildcard reply subscription, replies matched by correlation id. */
export function rawRpcCaller(nc: NatsConnection): RemoteCaller {
  const name = 'correlation-id RPC';
  const inbox = createInbox();
  const prefixLength = inbox.length + 1;
  const pending = new Map<number, Pending>();
  let nextId = 1;
  const sub = nc.subscribe(`${inbox}.*`, {
    callback: (err: Error | null, msg: Msg) => {
      if (err) {
        for (const p of pending.values()) p.reject(err);
        pending.clear();
        return;
      }
      const id = Number(msg.subject.slice(prefixLength));
      const p = pending.get(id);
      if (!p) return; // a reply nobody waits for any more
      pending.delete(id);
      try {
        checkEcho(name, p.n, decode(msg.data));
        p.resolve();
      } catch (e) {
        p.reject(e);
      }
    },
  });
  return {
    name,
    call(n: number): Promise<void> {
      const id = nextId++;
      return new Promise<void>((resolve, reject) => {
        pending.set(id, { n, resolve, reject });
        nc.publish(RPC_SUBJECT, encode(ping(n)), { reply: `${inbox}.${id}` });
      });
    },
    async close(): Promise<void> {
      sub.unsubscribe();
      pending.clear();
    },
  };
}
