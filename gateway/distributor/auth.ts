/**
 * User tokens: HS256 JWTs whose `sub` is the user id.
 *
 * Verification goes through jose (signature, `exp`/`nbf`, and `iss`/`aud` when configured). Verified
 * tokens are kept in a bounded LRU keyed by the token string until their `exp`, because a client
 * reconnects with the same token many times and an HMAC verify through WebCrypto costs far more than
 * a map lookup. Only successes are cached; a failure is verified again each time (and is cheap to
 * refuse anyway: the per-address rate limit runs first).
 */
import { createSecretKey, webcrypto } from 'node:crypto';
import { SignJWT, errors as joseErrors, jwtVerify } from 'jose';
import { HttpError } from './errors.js';

export interface JwtOptions {
  /** HMAC secret shared with whoever issues user tokens. */
  secret: string;
  issuer?: string;
  audience?: string;
}

/** What a verified token says. */
export interface VerifiedToken {
  readonly sub: string;
  /** Expiry in ms since the epoch; undefined when the token has no `exp`. */
  readonly expMs: number | undefined;
}

/** Tokens longer than this are refused unread (a JWT of ours is ~200 bytes). */
export const MAX_TOKEN_LENGTH = 4096;
const DEFAULT_CACHE_SIZE = 10_000;
const DEV_TOKEN_LIFETIME_S = 24 * 3600;

export interface TokenVerifierOptions {
  /** Verified tokens kept, at most (default 10_000). 0 disables the cache. */
  cacheSize?: number;
  now?: () => number;
}

/** Verifies bearer tokens; keeps successes until they expire. */
export class TokenVerifier {
  /** A WebCrypto key made once: given a KeyObject or bytes, jose imports a key on every verify. */
  readonly #key: Promise<webcrypto.CryptoKey>;
  readonly #options: JwtOptions;
  readonly #cache = new Map<string, VerifiedToken>();
  /** Verifications in flight: concurrent requests with one new token share one verify. */
  readonly #pending = new Map<string, Promise<VerifiedToken>>();
  readonly #cacheSize: number;
  readonly #now: () => number;

  constructor(options: JwtOptions, verifierOptions: TokenVerifierOptions = {}) {
    this.#key = webcrypto.subtle.importKey('raw', Buffer.from(options.secret, 'utf8'), { name: 'HMAC', hash: 'SHA-256' }, false, ['verify']);
    this.#options = options;
    this.#cacheSize = verifierOptions.cacheSize ?? DEFAULT_CACHE_SIZE;
    this.#now = verifierOptions.now ?? Date.now;
  }

  /** Verifies `token`. Rejects with HttpError(unauthorized) saying why. */
  async verify(token: string): Promise<VerifiedToken> {
    const cached = this.#cache.get(token);
    if (cached !== undefined) {
      if (cached.expMs === undefined || cached.expMs > this.#now()) {
        // Re-insert: Map order is the LRU order.
        this.#cache.delete(token);
        this.#cache.set(token, cached);
        return cached;
      }
      this.#cache.delete(token);
    }
    if (token.length > MAX_TOKEN_LENGTH) throw new HttpError('unauthorized', 'bearer token is too long; send the token the issuer gave you');
    let pending = this.#pending.get(token);
    if (pending === undefined) {
      pending = this.#verifyUncached(token).finally(() => this.#pending.delete(token));
      this.#pending.set(token, pending);
    }
    return pending;
  }

  async #verifyUncached(token: string): Promise<VerifiedToken> {
    let payload;
    try {
      ({ payload } = await jwtVerify(token, await this.#key, {
        algorithms: ['HS256'],
        issuer: this.#options.issuer,
        audience: this.#options.audience,
        currentDate: new Date(this.#now()),
      }));
    } catch (cause) {
      if (cause instanceof joseErrors.JWTExpired) {
        throw new HttpError('unauthorized', 'token expired; get a new token and retry', { cause });
      }
      throw new HttpError('unauthorized', 'token is invalid (bad signature, format, issuer or audience); get a new token', { cause });
    }
    if (typeof payload.sub !== 'string' || payload.sub === '') {
      throw new HttpError('unauthorized', 'token has no subject (sub); get a token issued for a user');
    }
    const verified: VerifiedToken = { sub: payload.sub, expMs: typeof payload.exp === 'number' ? payload.exp * 1000 : undefined };
    if (this.#cacheSize > 0) {
      if (this.#cache.size >= this.#cacheSize) {
        const oldest = this.#cache.keys().next();
        if (!oldest.done) this.#cache.delete(oldest.value);
      }
      this.#cache.set(token, verified);
    }
    return verified;
  }

  get cached(): number {
    return this.#cache.size;
  }
}

/** Signs a development token for `userId` (HS256, sub = userId, expires in 24 h). */
export async function signDevToken(options: JwtOptions, userId: string, now: number = Date.now()): Promise<string> {
  const jwt = new SignJWT({})
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(userId)
    .setIssuedAt(Math.floor(now / 1000))
    .setExpirationTime(Math.floor(now / 1000) + DEV_TOKEN_LIFETIME_S);
  if (options.issuer !== undefined) jwt.setIssuer(options.issuer);
  if (options.audience !== undefined) jwt.setAudience(options.audience);
  return jwt.sign(createSecretKey(Buffer.from(options.secret, 'utf8')));
}

/** The token of an `Authorization: Bearer <token>` header, or undefined when there is none. */
export function bearerToken(header: string): string | undefined {
  if (header.length < 8 || header.slice(0, 7).toLowerCase() !== 'bearer ') return undefined;
  const token = header.slice(7).trim();
  return token === '' ? undefined : token;
}
