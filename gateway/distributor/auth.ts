/**
 * User tokens: JWTs whose `sub` is the user id.
 *
 * Policy (docs/security.md): `exp` and `sub` are required; a token whose `exp` is further out than the
 * maximum lifetime (default 24 h) is refused, so a leaked token is worth at most that long; `iss` and
 * `aud` are checked when configured. Keys: an HS256 secret and/or the issuer's public keys from a JWKS
 * (token-keys.ts).
 *
 * Dev tokens (POST /v1/dev/token) are HS256 with a key of their own and the issuer DEV_ISSUER. A
 * gateway not in dev mode holds no dev key and refuses any token that claims that issuer, so a dev token
 * never opens a production gateway, even one that shares its HS256 secret with a dev cluster.
 *
 * Verified tokens are kept in a bounded LRU keyed by the token string, each only until its `exp`
 * (checked on every hit): a client reconnects with the same token many times and a verify costs far
 * more than a map lookup. Only successes are cached; a failure is verified again each time (and is
 * cheap to refuse anyway: the per-address rate limit runs first).
 */
import type { webcrypto } from 'node:crypto';
import { SignJWT, decodeJwt, errors as joseErrors, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import { DistributorStartError, HttpError } from './errors.js';
import { hmacKey, tokenKeys, type TokenKeySources, type TokenKeys } from './token-keys.js';

/** How user tokens are checked. At least one key source (secret, jwksFile, jwksUrl), unless in dev mode. */
export interface JwtOptions extends TokenKeySources {
  /** Required `iss` when set. */
  issuer?: string;
  /** Required `aud` (one of the token's audiences) when set. */
  audience?: string;
  /** Longest accepted lifetime: a token whose `exp` is more than this many seconds from now is refused (default 86_400). */
  maxLifetimeSec?: number;
}

/** What a verified token says. */
export interface VerifiedToken {
  readonly sub: string;
  /** Expiry in ms since the epoch (always present: `exp` is required). */
  readonly expMs: number;
  /** True for a dev token (POST /v1/dev/token). */
  readonly dev: boolean;
}

/** The `iss` of dev tokens; a gateway out of dev mode refuses every token that carries it. */
export const DEV_ISSUER = 'syncmesh-dev';
/** Tokens longer than this are refused unread (a JWT of ours is ~200 bytes; an RS256 one ~700). */
export const MAX_TOKEN_LENGTH = 4096;
export const DEFAULT_MAX_LIFETIME_SEC = 24 * 3600;
/**
 * Clock skew allowed on the lifetime check only: `exp` and `nbf` are strict, so a cached token and a
 * freshly verified one expire at the same instant.
 */
const CLOCK_TOLERANCE_SEC = 5;
const DEFAULT_CACHE_SIZE = 10_000;

export interface TokenVerifierOptions {
  /** Verified tokens kept, at most (default 10_000). 0 disables the cache. */
  cacheSize?: number;
  now?: () => number;
  /** Dev mode: the secret dev tokens are signed with. Absent: dev tokens are refused. */
  devSecret?: string;
}

const unauthorized = (message: string, cause?: unknown): HttpError => new HttpError('unauthorized', message, cause === undefined ? undefined : { cause });

/** Verifies bearer tokens; keeps successes until they expire. */
export class TokenVerifier {
  readonly #keys: TokenKeys | undefined;
  readonly #dev: Promise<webcrypto.CryptoKey> | undefined;
  readonly #options: JwtOptions;
  readonly #maxLifetimeMs: number;
  readonly #cache = new Map<string, VerifiedToken>();
  /** Verifications in flight: concurrent requests with one new token share one verify. */
  readonly #pending = new Map<string, Promise<VerifiedToken>>();
  readonly #cacheSize: number;
  readonly #now: () => number;

  /** Throws DistributorStartError when no key is configured (and not in dev mode) or a key source is bad. */
  constructor(options: JwtOptions, verifierOptions: TokenVerifierOptions = {}) {
    this.#keys = tokenKeys(options);
    this.#dev = verifierOptions.devSecret !== undefined ? hmacKey(verifierOptions.devSecret) : undefined;
    if (this.#keys === undefined && this.#dev === undefined) {
      throw new DistributorStartError('no key to check user tokens with: set an HS256 secret (SYNCMESH_JWT_SECRET), a JWKS file (--jwks-file) or a JWKS URL (--jwks-url)');
    }
    if (options.issuer === DEV_ISSUER) throw new DistributorStartError(`the issuer ${DEV_ISSUER} is reserved for dev tokens; configure your identity provider's issuer`);
    const maxLifetimeSec = options.maxLifetimeSec ?? DEFAULT_MAX_LIFETIME_SEC;
    if (!(maxLifetimeSec > 0)) throw new DistributorStartError(`the maximum token lifetime must be > 0 seconds (got ${maxLifetimeSec})`);
    this.#options = options;
    this.#maxLifetimeMs = maxLifetimeSec * 1000;
    this.#cacheSize = verifierOptions.cacheSize ?? DEFAULT_CACHE_SIZE;
    this.#now = verifierOptions.now ?? Date.now;
  }

  /** Verifies `token`. Rejects with HttpError(unauthorized) saying what is wrong and what to do. */
  async verify(token: string): Promise<VerifiedToken> {
    const cached = this.#cache.get(token);
    if (cached !== undefined) {
      this.#cache.delete(token);
      if (cached.expMs > this.#now()) {
        // Re-insert: Map order is the LRU order.
        this.#cache.set(token, cached);
        return cached;
      }
    }
    if (token.length > MAX_TOKEN_LENGTH) throw unauthorized(`bearer token is over ${MAX_TOKEN_LENGTH} characters; send the token the issuer gave you`);
    let pending = this.#pending.get(token);
    if (pending === undefined) {
      pending = this.#verifyUncached(token).finally(() => this.#pending.delete(token));
      this.#pending.set(token, pending);
    }
    return pending;
  }

  get cached(): number {
    return this.#cache.size;
  }

  async #verifyUncached(token: string): Promise<VerifiedToken> {
    let claimed: JWTPayload;
    try {
      claimed = decodeJwt(token);
    } catch (cause) {
      throw unauthorized('bearer token is not a JWT (three base64url parts with a JSON claims set); send the token the issuer gave you', cause);
    }
    const dev = claimed.iss === DEV_ISSUER;
    let payload: JWTPayload;
    if (dev) {
      if (this.#dev === undefined) {
        throw unauthorized(`this is a dev token (issuer ${DEV_ISSUER}, from POST /v1/dev/token); this gateway is not in dev mode and never accepts one: get a token from the configured issuer`);
      }
      payload = await this.#check(token, await this.#dev, ['HS256'], DEV_ISSUER, undefined);
    } else {
      if (this.#keys === undefined) throw unauthorized('this dev-mode gateway has no issuer keys configured and accepts dev tokens only: get one from POST /v1/dev/token');
      payload = await this.#check(token, this.#keys.getKey, this.#keys.algorithms, this.#options.issuer, this.#options.audience);
    }
    const expMs = (payload.exp as number) * 1000;
    const now = this.#now();
    if (expMs - now > this.#maxLifetimeMs + CLOCK_TOLERANCE_SEC * 1000) {
      const hours = ((expMs - now) / 3_600_000).toFixed(1);
      throw unauthorized(
        `token expires in ${hours} h, later than the ${this.#maxLifetimeMs / 3_600_000} h this gateway accepts; issue tokens with a shorter lifetime (or raise --jwt-max-lifetime)`,
      );
    }
    if (typeof payload.sub !== 'string' || payload.sub === '') throw unauthorized('token has no subject (sub); get a token issued for a user');
    const verified: VerifiedToken = { sub: payload.sub, expMs, dev };
    if (this.#cacheSize > 0) {
      if (this.#cache.size >= this.#cacheSize) {
        const oldest = this.#cache.keys().next();
        if (!oldest.done) this.#cache.delete(oldest.value);
      }
      this.#cache.set(token, verified);
    }
    return verified;
  }

  async #check(
    token: string,
    key: webcrypto.CryptoKey | JWTVerifyGetKey,
    algorithms: readonly string[],
    issuer: string | undefined,
    audience: string | undefined,
  ): Promise<JWTPayload> {
    try {
      const options = { algorithms: [...algorithms], issuer, audience, requiredClaims: ['exp', 'sub'], currentDate: new Date(this.#now()) };
      const { payload } = typeof key === 'function' ? await jwtVerify(token, key, options) : await jwtVerify(token, key, options);
      return payload;
    } catch (cause) {
      throw this.#explain(cause, algorithms, issuer, audience);
    }
  }

  /** Turns a jose failure into a 401 that says what to fix (or a 503 when the JWKS endpoint failed). */
  #explain(cause: unknown, algorithms: readonly string[], issuer: string | undefined, audience: string | undefined): HttpError {
    if (cause instanceof joseErrors.JWTExpired) {
      const exp = typeof cause.payload.exp === 'number' ? ` at ${new Date(cause.payload.exp * 1000).toISOString()}` : '';
      return unauthorized(`token expired${exp}; get a new token and retry`, cause);
    }
    if (cause instanceof joseErrors.JWTClaimValidationFailed) {
      const got = (v: unknown): string => (v === undefined ? 'none' : JSON.stringify(v));
      switch (cause.claim) {
        case 'exp':
          return cause.reason === 'missing'
            ? unauthorized(`token has no expiry (exp); this gateway requires exp at most ${this.#maxLifetimeMs / 3_600_000} h ahead: issue tokens with one`, cause)
            : unauthorized('token expiry (exp) is not a number of seconds; issue tokens with a numeric exp', cause);
        case 'sub':
          return unauthorized('token has no subject (sub); get a token issued for a user', cause);
        case 'iss':
          return unauthorized(`token issuer ${got(cause.payload.iss)} is not the trusted issuer ${got(issuer)}; get a token from that issuer`, cause);
        case 'aud':
          return unauthorized(`token audience ${got(cause.payload.aud)} does not include ${got(audience)}; get a token issued for this service`, cause);
        case 'nbf':
          return unauthorized('token is not valid yet (nbf is in the future); check the clocks of the issuer and this gateway', cause);
        default:
          return unauthorized(`token claim ${cause.claim} is invalid (${cause.reason}); get a new token`, cause);
      }
    }
    if (cause instanceof joseErrors.JOSEAlgNotAllowed) {
      return unauthorized(`token algorithm is not accepted here; this gateway accepts ${algorithms.join(', ')}`, cause);
    }
    if (cause instanceof joseErrors.JWKSNoMatchingKey || cause instanceof joseErrors.JWKSMultipleMatchingKeys) {
      return unauthorized("no key of the issuer's JWKS matches the token's kid and alg; get a token signed with a current key", cause);
    }
    if (cause instanceof joseErrors.JWSSignatureVerificationFailed) {
      return unauthorized("token signature does not verify with this gateway's keys; get a token from the trusted issuer", cause);
    }
    if (cause instanceof joseErrors.JWKSTimeout || (this.#keys?.remote === true && !(cause instanceof joseErrors.JOSEError))) {
      // Not the token's fault: the JWKS endpoint did not answer.
      return new HttpError('unavailable', 'cannot fetch the issuer keys (JWKS) to check the token; retry later', { cause, headers: { 'Retry-After': '5' } });
    }
    return unauthorized('token is malformed (bad header, claims or signature encoding); get a new token', cause);
  }
}

/**
 * Signs a dev token for `userId`: HS256 with the dev secret, `iss` DEV_ISSUER, `sub` = userId,
 * expiring in `lifetimeSec` (default 24 h). Only a gateway in dev mode with the same dev secret accepts it.
 */
export async function signDevToken(devSecret: string, userId: string, now: number = Date.now(), lifetimeSec = DEFAULT_MAX_LIFETIME_SEC): Promise<string> {
  const nowSec = Math.floor(now / 1000);
  return new SignJWT({})
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setIssuer(DEV_ISSUER)
    .setSubject(userId)
    .setIssuedAt(nowSec)
    .setExpirationTime(nowSec + lifetimeSec)
    .sign(await hmacKey(devSecret));
}

/** The token of an `Authorization: Bearer <token>` header, or undefined when there is none. */
export function bearerToken(header: string): string | undefined {
  if (header.length < 8 || header.slice(0, 7).toLowerCase() !== 'bearer ') return undefined;
  const token = header.slice(7).trim();
  return token === '' ? undefined : token;
}
