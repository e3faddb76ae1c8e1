/**
 * startDistributor(): the distributor of a gateway node. Spawns the distributor actor on this node
 * and serves the HTTP API in front of it.
 *
 * The actor owns the socket table; the HTTP layer allocates from the latest table the actor
 * published (DistributorArgs.onTable) instead of asking it per request. Both give the same answer
 * (the table is immutable and allocation is a pure function of it); the difference is cost.
 * Measured with bench/ours/distributor-load.ts on 2 shared cores, same run: allocating from the
 * published table, 25-28k allocations/s end to end (28-30k per server CPU-second); a local ask per
 * request (runtime ask bookkeeping plus an XState macrostep each), 17-19k/s (19-22k per CPU-second),
 * under the 20k/s target. Other actors, on any node, still ask the actor (`allocate`, `status`).
 */
import { DISTRIBUTOR_KIND } from '../../actors/distributor/mod.js';
import type { DistributorArgs, SocketTable } from '../../actors/distributor/mod.js';
import type { ActorNode, ActorRef } from '../../runtime/mod.js';
import type { Allocator } from './allocator.js';
import { listenDistributorApp, type DistributorOptions, type DistributorServer, type HealthState } from './app.js';
import { DistributorStartError } from './errors.js';

/**
 * Starts the distributor on `node`, which must host the `distributor` kind
 * (startNode({ kinds: [distributorKind, ...] })). Resolves once the HTTP server listens.
 * close() stops the HTTP server, then the actor; it does not close the node.
 */
export async function startDistributor(node: ActorNode, options: DistributorOptions): Promise<DistributorServer> {
  const logger = node.logger.child({ component: 'distributor' });
  let health: HealthState = 'starting';
  // Written only by the actor (onTable); undefined until it published its first table.
  let table: SocketTable | undefined;
  const args: DistributorArgs = { membership: node, onTable: (t) => (table = t) };
  let ref: ActorRef;
  try {
    ref = await node.spawn(DISTRIBUTOR_KIND, node.id, { node: node.id }, args);
  } catch (cause) {
    throw new DistributorStartError(
      `cannot start the distributor actor on node ${node.id}: ${cause instanceof Error ? cause.message : String(cause)}; ` +
        'start the node with kinds including distributorKind (actors/distributor)',
      { cause },
    );
  }
  const allocator: Allocator = {
    allocate: (connectionId, exclude) => table?.pick(connectionId, exclude),
    socketServers: () => table?.size ?? 0,
  };
  let server: DistributorServer;
  try {
    server = await listenDistributorApp(
      { nodeId: node.id, logger, allocator, health: () => (health === 'ready' && table === undefined ? 'starting' : health) },
      options,
    );
  } catch (error) {
    await node.stop(ref).catch(() => undefined);
    throw error;
  }
  health = 'ready';
  let closing: Promise<void> | undefined;
  return {
    port: server.port,
    url: server.url,
    close: () =>
      (closing ??= (async () => {
        health = 'closing';
        await server.close();
        await node.stop(ref).catch((err: unknown) => logger.warn({ err }, 'stopping the distributor actor failed'));
      })()),
  };
}
