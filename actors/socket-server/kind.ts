/**
 * The `socket-server` actor kind (machine.ts). A socket node hosts it beside `session`:
 * `startNode({ roles: ['socket'], kinds: [socketServerKind(), sessionKind()], ... })`, and
 * gateway/socket startSocketServer() spawns it there with the listener as its argument.
 */
import { defineActor } from '../../runtime/mod.js';
import type { ActorKind, ActorRef } from '../../runtime/mod.js';
import { socketServerMachine, type SocketServerMachine } from './machine.js';

export const SOCKET_SERVER_KIND = 'socket-server';

/**
 * The address of the socket server of node `nodeId`: one per node, its id is the node's id. Tell it
 * `{type:'drain'}` (optionally `spreadMs`) or `{type:'close'}` from any node; watch it to hear it stop.
 */
export function socketServerRef(nodeId: string): ActorRef {
  return { kind: SOCKET_SERVER_KIND, id: nodeId, node: nodeId };
}

/**
 * Explicit placement (it lives with its listening socket), never restarted (a restart would bind
 * the port again under clients that are still connected: the node's operator starts a new one),
 * never passivated. The mailbox is generous: every connection that opens is one message.
 */
export function socketServerKind(): ActorKind<SocketServerMachine> {
  return defineActor({
    kind: SOCKET_SERVER_KIND,
    machine: socketServerMachine,
    options: {
      placement: 'explicit',
      passivateAfterMs: 0,
      mailbox: { capacity: 65_536, overflow: 'reject' },
      supervision: { maxRestarts: 0 },
    },
  });
}
