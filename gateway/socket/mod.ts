/**
 * Public entry of the socket server. What is exported here is the package's API; everything else in
 * gateway/socket/ is internal.
 */
export { startSocketServer } from './server.js';
export { CloseCode, closeReason, isReconnectCode, isTerminalCode } from '../../protocol/mod.js';
export { SocketConfigError, SocketStartError } from './errors.js';
export type { SocketServerHandle, SocketServerStats } from './server.js';
export type { SocketServerOptions, SocketLimits, SocketObserver, TlsFiles } from './options.js';
