/**
 * Peer: Moleculer 0.14 with its NATS transporter (the `nats` v2 package, its peer dependency) and
 * JSON serializer, over the same nats-server. One broker per process, default options otherwise:
 * a service `bench` whose action `echo` returns its params; the caller uses `broker.call`.
 */
import { ServiceBroker } from 'moleculer';
import type { RemoteCaller } from '../caller.js';
import { checkEcho, ping } from '../payload.js';

const SERVICE = 'bench';
const ACTION = `${SERVICE}.echo`;

function broker(natsUrl: string, nodeID: string): ServiceBroker {
  return new ServiceBroker({
    nodeID,
    namespace: 'bench',
    transporter: natsUrl,
    serializer: 'JSON',
    logger: false,
    // The harness owns process signals and exits; Moleculer would otherwise call process.exit.
    skipProcessEventRegistration: true,
  });
}

/** Starts a broker hosting `bench.echo`. Resolves once it is connected. */
export async function startMoleculerResponder(natsUrl: string, nodeID: string): Promise<ServiceBroker> {
  const b = broker(natsUrl, nodeID);
  b.createService({
    name: SERVICE,
    actions: {
      echo: (ctx) => ctx.params,
    },
  });
  await b.start();
  return b;
}

/** A caller broker; resolves once it has discovered the responder's service. */
export async function moleculerCaller(natsUrl: string, nodeID: string, discoverMs = 20_000): Promise<RemoteCaller> {
  const name = 'Moleculer 0.14 (NATS, JSON)';
  const b = broker(natsUrl, nodeID);
  await b.start();
  try {
    await b.waitForServices([SERVICE], discoverMs);
  } catch (err) {
    await b.stop();
    throw err;
  }
  return {
    name,
    async call(n: number): Promise<void> {
      checkEcho(name, n, await b.call(ACTION, ping(n)));
    },
    close: () => b.stop(),
  };
}
