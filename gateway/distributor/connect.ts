/**
 * POST /v1/connect: the allocation request of the patent.
 *
 * Order of checks (each failure answers at once): address rate limit (cheap, before any crypto),
 * bearer token present and valid, body well-formed, body userId equal to the token's subject, user
 * rate limit, then the allocation. The answer carries the connection id, the chosen socket server (and
 * its node id, so a client that cannot reach it can `exclude` it next time) and a ticket bound to both.
 */
import { connectionId } from '../../protocol/cluster/mod.js';
import { nextJti } from '../jti.js';
import { signTicket } from '../ticket.js';
import { bearerToken, type TokenVerifier } from './auth.js';
import type { Allocator } from './allocator.js';
import { HttpError } from './errors.js';
import type { RateLimiter } from './rate-limit.js';
import { parseConnectBody } from './requests.js';

/** The 200 answer of POST /v1/connect. */
export interface ConnectAnswer {
  readonly connectionId: string;
  /** The chosen socket node id (extension): what a client that fails to reach it sends in `exclude`. */
  readonly node: string;
  readonly socket: { readonly host: string; readonly port: number; readonly url: string };
  readonly ticket: string;
  /** Ticket expiry, ms since the epoch. */
  readonly expiresAt: number;
}

/** What one connect request carries, copied out of the uWS request. */
export interface ConnectInput {
  readonly authorization: string;
  readonly address: string;
  readonly body: Buffer;
}

export interface ConnectDeps {
  readonly verifier: TokenVerifier;
  readonly allocator: Allocator;
  readonly ticketSecret: string;
  readonly ticketTtlMs: number;
  readonly perUser: RateLimiter | undefined;
  readonly perAddress: RateLimiter | undefined;
  /** Seconds a client is told to wait when no socket server is live. */
  readonly unavailableRetryAfterSec: number;
  readonly now: () => number;
}

function rateLimited(retryAfterMs: number, who: string): HttpError {
  const seconds = Math.max(1, Math.ceil(retryAfterMs / 1000));
  return new HttpError('rate_limited', `too many connect requests from this ${who}; retry after ${seconds} s`, {
    headers: { 'Retry-After': String(seconds) },
  });
}

/** Checks an address against the per-address limit; throws HttpError(rate_limited). */
export function checkAddress(limiter: RateLimiter | undefined, address: string): void {
  if (limiter === undefined) return;
  const decision = limiter.take(address);
  if (!decision.allowed) throw rateLimited(decision.retryAfterMs, 'address');
}

/** Answers one connect request, or throws HttpError. */
export async function handleConnect(deps: ConnectDeps, input: ConnectInput): Promise<ConnectAnswer> {
  checkAddress(deps.perAddress, input.address);
  const token = bearerToken(input.authorization);
  if (token === undefined) {
    throw new HttpError('unauthorized', 'missing bearer token; send "Authorization: Bearer <token>"');
  }
  const verified = await deps.verifier.verify(token);
  const { userId, deviceId, exclude } = parseConnectBody(input.body);
  if (userId !== verified.sub) {
    throw new HttpError('forbidden', 'userId does not match the token; connect as the user the token was issued for');
  }
  if (deps.perUser !== undefined) {
    const decision = deps.perUser.take(userId);
    if (!decision.allowed) throw rateLimited(decision.retryAfterMs, 'user');
  }
  const cid = connectionId(userId, deviceId);
  const server = await deps.allocator.allocate(cid, exclude);
  if (server === undefined) {
    throw new HttpError('unavailable', `no socket server is live; retry after ${deps.unavailableRetryAfterSec} s`, {
      headers: { 'Retry-After': String(deps.unavailableRetryAfterSec) },
    });
  }
  const expiresAt = deps.now() + deps.ticketTtlMs;
  // `tex`: the token's expiry, so that the fallback ticket the socket node hands out in `welcome` does
  // not outlive the token checked here (gateway/socket/fallback.ts).
  const ticket = signTicket(deps.ticketSecret, {
    cid, uid: userId, did: deviceId, node: server.id, ...(server.run !== undefined && { run: server.run }), exp: expiresAt, jti: nextJti(), tex: verified.expMs,
  });
  return { connectionId: cid, node: server.id, socket: { host: server.host, port: server.port, url: server.url }, ticket, expiresAt };
}
