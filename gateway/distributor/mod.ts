/**
 * The distributor's HTTP API (PROTOCOL.md section 2). Public entry point of gateway/distributor.
 */
export { startDistributor } from './server.js';
export { DEFAULT_BODY_TIMEOUT_MS, DEFAULT_TICKET_TTL_MS, DEFAULT_PER_IP_PER_SEC, DEFAULT_PER_USER_PER_SEC, isLoopbackHost } from './app.js';
export { BodyTimeoutError, BodyTooLargeError, DistributorStartError, HttpError } from './errors.js';
export { DEFAULT_MAX_LIFETIME_SEC, DEV_ISSUER, signDevToken } from './auth.js';
export { JWKS_ALGORITHMS } from './token-keys.js';
export type { DistributorObserver, DistributorOptions, DistributorRoute, DistributorServer } from './app.js';
export type { JwtOptions } from './auth.js';
export type { TokenKeySources } from './token-keys.js';
export type { ConnectAnswer } from './connect.js';
