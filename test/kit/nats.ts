/**
 * Test kit: real nats-servers on free ports, cleaned up by construction.
 *
 *   await using ns = await natsServer();          // one server with JetStream
 *   await using cl = await natsCluster(3);        // three clustered servers
 *   await using env = await natsSetup();          // a server and a connection to it
 */
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { startNatsCluster, startNatsServer, type NatsCluster, type NatsClusterOptions, type NatsServer, type NatsServerOptions } from '../../runtime/mod.js';

export type { NatsCluster, NatsServer };

export function natsServer(options: NatsServerOptions = {}): Promise<NatsServer> {
  return startNatsServer(options);
}

export function natsCluster(size = 3, options: NatsClusterOptions = {}): Promise<NatsCluster> {
  return startNatsCluster(size, options);
}

export interface NatsSetup {
  ns: NatsServer;
  nc: NatsConnection;
  [Symbol.asyncDispose](): Promise<void>;
}

/** A JetStream server and one connection to it. */
export async function natsSetup(options: NatsServerOptions = {}): Promise<NatsSetup> {
  const ns = await startNatsServer(options);
  const nc = await connect({ servers: ns.url });
  return {
    ns,
    nc,
    [Symbol.asyncDispose]: async () => {
      await nc.close().catch(() => undefined);
      await ns[Symbol.asyncDispose]();
    },
  };
}
