/**
 * Public entry of the socket-server actor (one per socket node; see machine.ts).
 */
export { socketServerKind, socketServerRef, SOCKET_SERVER_KIND } from './kind.js';
export { socketServerMachine } from './machine.js';
export type { SocketServerMachine, SocketServerContext } from './machine.js';
export type { SocketServerPort, SocketServerEvent, SocketServerPhase } from './port.js';
