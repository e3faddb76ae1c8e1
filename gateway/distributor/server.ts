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
 *
 * With `threads` > 1 the HTTP API runs on that many worker threads (threads.ts), each allocating from
 * a copy of the same table; the main thread accepts and hands them the connections. Session 9, same
 * machine and run: 17.0k allocations/s on one thread, 21.9k on two (P6), the bench's load client
 * sharing the 2 cores.
 */
import { DISTRIBUTOR_KIND, type DistributorArgs, type SocketTable } from '../../actors/distributor/mod.js';
import type { ActorNode, ActorRef } from '../../runtime/mod.js';
import { tableAllocator, tableHealth } from './allocator.js';
import { listenDistributorApp, type DistributorOptions, type DistributorServer, type HealthState, type ListeningApp } from './app.js';
import { HttpThreads } from './threads.js';
import { perThreadOptions, threadCount } from './thread-options.js';
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
  let threads: HttpThreads | undefined;
  const args: DistributorArgs = {
    membership: node,
    onTable: (t) => {
      table = t;
      threads?.setTable(t);
    },
  };
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
  const allocator = tableAllocator(() => table);
  const count = threadCount(options.threads);
  const perThread = perThreadOptions(options, count);
  let server: ListeningApp | undefined;
  try {
    if (count > 1) {
      const { observer: _observer, threads: _threads, ...shared } = perThread;
      threads = await HttpThreads.start(count, { nodeId: node.id, options: shared, logLevel: logger.level }, logger, options.observer);
      threads.setTable(table); // the actor may have published one while they started
    }
    server = await listenDistributorApp(
      { nodeId: node.id, logger, allocator, health: () => tableHealth(health, table) },
      perThread,
      threads?.descriptors,
    );
    const listening = server;
    threads?.follow({ add: (d) => listening.addChild(d), remove: (d) => listening.removeChild(d) });
  } catch (error) {
    await server?.close();
    await threads?.close();
    await node.stop(ref).catch(() => undefined);
    throw error;
  }
  health = 'ready';
  threads?.setHealth('ready');
  let closing: Promise<void> | undefined;
  return {
    port: server.port,
    url: server.url,
    threads: count,
    close: () =>
      (closing ??= (async () => {
        health = 'closing';
        threads?.setHealth('closing');
        // The listener first: no connection may be handed to a thread that is leaving.
        await server.close();
        await threads?.close();
        await node.stop(ref).catch((err: unknown) => logger.warn({ err }, 'stopping the distributor actor failed'));
      })()),
  };
}

