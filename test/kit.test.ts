import { describe, expect, it } from 'vitest';
import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { natsCluster, natsSetup } from './kit/nats.js';
import { waitMetaLeader } from '../runtime/nats-launcher.js';

describe('kit - nats-server launcher', () => {
  it('kit - starts a JetStream server on a free port and restarts it on the same port', async () => {
    await using env = await natsSetup();
    const jsm = await jetstreamManager(env.nc);
    expect((await jsm.getAccountInfo()).limits).toBeDefined();
    const port = env.ns.port;
    await env.ns.restart();
    expect(env.ns.port).toBe(port);
    const nc2 = await connect({ servers: env.ns.url });
    await nc2.flush();
    await nc2.close();
  });

  it('kit - a three-server cluster survives kill -9 of one server', async () => {
    await using cl = await natsCluster(3);
    const nc = await connect({ servers: cl.urls });
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: 'K', subjects: ['k.>'], num_replicas: 3 });
    await cl.servers[0]!.kill9();
    // The killed server may have been the JetStream meta leader: wait for the others to elect one.
    await waitMetaLeader(cl.servers.slice(1), Date.now() + 30_000);
    const nc2 = await connect({ servers: [cl.urls[1]!, cl.urls[2]!] });
    const jsm2 = await jetstreamManager(nc2);
    // The stream answers once its own raft group has a leader again (a 4-9 s election on 2.9 if it lost it).
    const deadline = Date.now() + 30_000;
    let info: Awaited<ReturnType<typeof jsm2.streams.info>> | undefined;
    while (!info) {
      info = await jsm2.streams.info('K').catch((err: unknown) => {
        if (Date.now() > deadline) throw err;
        return undefined;
      });
    }
    expect(info.config.num_replicas).toBe(3);
    expect(info.cluster?.leader).toBeTruthy();
    await nc.close();
    await nc2.close();
  });
});
