/**
 * What the HTTP layer needs from the allocation side: which socket server a connection id goes to,
 * and how many are live. startDistributor backs it with the distributor actor (actors/distributor);
 * tests of the HTTP layer alone can back it with a SocketTable.
 */
import type { SocketServer, SocketTable } from '../../actors/distributor/mod.js';
import type { HealthState } from './app.js';

export interface Allocator {
  /**
   * The socket server for `connectionId`, or undefined when none is live. `exclude`: node ids to avoid
   * unless no other server is live (SocketTable.pick). Rejects only on a fault.
   */
  allocate(connectionId: string, exclude?: readonly string[]): SocketServer | undefined | Promise<SocketServer | undefined>;
  /** Number of live socket servers. */
  socketServers(): number | Promise<number>;
}

/** An Allocator over the latest table the distributor actor published (`current()`; undefined: none yet). */
export function tableAllocator(current: () => SocketTable | undefined): Allocator {
  return {
    allocate: (connectionId, exclude) => current()?.pick(connectionId, exclude),
    socketServers: () => current()?.size ?? 0,
  };
}

/** Health of an HTTP layer over such a table: `starting` until the actor published its first one. */
export function tableHealth(state: HealthState, current: SocketTable | undefined): HealthState {
  return state === 'ready' && current === undefined ? 'starting' : state;
}
