/**
 * Public entry of the client-session actor (one per WebSocket connection, see machine.ts).
 */
export { sessionKind, SESSION_KIND, SESSION_HIBERNATE_AFTER_MS } from './kind.js';
export { sessionMachine, sessionHibernation } from './machine.js';
export { parseClientFrame, frameId } from './wire.js';
export type { SessionMachine, SessionContext } from './machine.js';
export type { SessionPort, SessionEvent, SessionCloseKind, SessionArgs } from './port.js';
export type { ClientRequest, FrameProblem, ParsedFrame } from './wire.js';
