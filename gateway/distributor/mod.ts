/**
 * The distributor's HTTP API (PROTOCOL.md section 2). Public entry point of gateway/distributor.
 */
export { startDistributor } from './server.js';
export { DEFAULT_TICKET_TTL_MS, DEFAULT_PER_IP_PER_SEC, DEFAULT_PER_USER_PER_SEC } from './app.js';
export { BodyTooLargeError, DistributorStartError, HttpError } from './errors.js';
export { signDevToken } from './auth.js';
export type { DistributorObserver, DistributorOptions, DistributorRoute, DistributorServer } from './app.js';
export type { JwtOptions } from './auth.js';
export type { ConnectAnswer } from './connect.js';
