/**
 * The distributor actor and the allocation it performs. Public entry point of actors/distributor.
 */
export { DISTRIBUTOR_KIND, distributorKind, distributorMachine } from './machine.js';
export { SocketTable, socketServerOf } from './socket-table.js';
export { rendezvousWinner, pickPrepared, prepareCandidates } from './rendezvous.js';
export type { DistributorArgs, MembershipSource } from './machine.js';
export type { SocketServer } from './socket-table.js';
export type { PreparedCandidate, RendezvousCandidate } from './rendezvous.js';
export type { AllocateRequest, AllocateResult, StatusRequest, StatusResult } from './messages.js';
