/**
 * The keys user tokens are checked with: an HS256 secret shared with the issuer, and/or the issuer's
 * public keys (EdDSA, RS256, ES256) from a JWKS file or a JWKS URL (jose createLocalJWKSet /
 * createRemoteJWKSet). The header's `alg` picks the key: HS256 goes to the secret only, the
 * asymmetric algorithms to the JWKS only, so a public key can never be used as an HMAC secret.
 */
import { readFileSync } from 'node:fs';
import { webcrypto } from 'node:crypto';
import { createLocalJWKSet, createRemoteJWKSet, type JSONWebKeySet, type JWTVerifyGetKey } from 'jose';
import { DistributorStartError } from './errors.js';

/** Asymmetric algorithms accepted from a JWKS. */
export const JWKS_ALGORITHMS = ['EdDSA', 'RS256', 'ES256'] as const;

/** Where the keys come from (at least one). */
export interface TokenKeySources {
  /** HS256 secret shared with the issuer (32 bytes or more). */
  secret?: string;
  /** A JWKS document (JSON) on disk holding the issuer's public keys; read once at start. */
  jwksFile?: string;
  /** The issuer's JWKS endpoint; fetched on first use and when a token names an unknown `kid`. */
  jwksUrl?: string;
  /**
   * Least time between two fetches of the JWKS URL caused by unknown `kid`s (default 30_000 ms), so a
   * spray of made-up kids cannot turn the gateway against the issuer.
   */
  jwksCooldownMs?: number;
}

/** A key resolver for jwtVerify and the algorithms it can check. */
export interface TokenKeys {
  readonly algorithms: readonly string[];
  readonly getKey: JWTVerifyGetKey;
  /** True when a JWKS URL is used: failures to fetch it are ours, not the token's. */
  readonly remote: boolean;
}

function loadJwksFile(path: string): JSONWebKeySet {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (cause) {
    throw new DistributorStartError(`cannot read the JWKS file ${path}: ${(cause as Error).message}; pass a readable file with --jwks-file`, { cause });
  }
  let jwks: unknown;
  try {
    jwks = JSON.parse(text);
  } catch (cause) {
    throw new DistributorStartError(`the JWKS file ${path} is not JSON; it must hold {"keys":[...]} with the issuer's public keys`, { cause });
  }
  const keys = (jwks as { keys?: unknown } | null)?.keys;
  if (!Array.isArray(keys) || keys.length === 0) {
    throw new DistributorStartError(`the JWKS file ${path} has no "keys" array; it must hold {"keys":[...]} with the issuer's public keys`);
  }
  for (const k of keys as Record<string, unknown>[]) {
    if (typeof k !== 'object' || k === null || 'd' in k || k['kty'] === 'oct') {
      throw new DistributorStartError(`the JWKS file ${path} holds a private or symmetric key; give the gateway public keys only`);
    }
  }
  return jwks as JSONWebKeySet;
}

/**
 * Builds the resolver for `sources`, or undefined when none is set. Throws DistributorStartError
 * (what to fix) for an unreadable JWKS file or a bad URL.
 */
export function tokenKeys(sources: TokenKeySources): TokenKeys | undefined {
  const { secret, jwksFile, jwksUrl } = sources;
  if (jwksFile !== undefined && jwksUrl !== undefined) {
    throw new DistributorStartError('give either a JWKS file or a JWKS URL, not both (--jwks-file, --jwks-url)');
  }
  let jwks: JWTVerifyGetKey | undefined;
  if (jwksFile !== undefined) jwks = createLocalJWKSet(loadJwksFile(jwksFile));
  if (jwksUrl !== undefined) {
    let url: URL;
    try {
      url = new URL(jwksUrl);
    } catch (cause) {
      throw new DistributorStartError(`the JWKS URL ${JSON.stringify(jwksUrl)} is not a URL; pass the issuer's https://.../jwks.json with --jwks-url`, { cause });
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:') {
      throw new DistributorStartError(`the JWKS URL must be http(s) (got ${url.protocol})`);
    }
    // Refetched when a token names an unknown kid (a rotation), at most once per cooldown, and every 10 min anyway.
    jwks = createRemoteJWKSet(url, { cooldownDuration: sources.jwksCooldownMs ?? 30_000, cacheMaxAge: 600_000, timeoutDuration: 5_000 });
  }
  const hmac = secret !== undefined && secret !== ''
    ? webcrypto.subtle.importKey('raw', Buffer.from(secret, 'utf8'), { name: 'HMAC', hash: 'SHA-256' }, false, ['verify'])
    : undefined;
  if (hmac === undefined && jwks === undefined) return undefined;
  const algorithms = [...(hmac !== undefined ? ['HS256'] : []), ...(jwks !== undefined ? JWKS_ALGORITHMS : [])];
  const asymmetric = jwks;
  return {
    algorithms,
    remote: jwksUrl !== undefined,
    // jwtVerify checks `alg` against `algorithms` before it asks for a key.
    getKey: (header, token) => (header.alg === 'HS256' ? hmac! : asymmetric!(header, token)),
  };
}

/** A WebCrypto HMAC key for signing and verifying with `secret` (dev tokens). */
export function hmacKey(secret: string): Promise<webcrypto.CryptoKey> {
  return webcrypto.subtle.importKey('raw', Buffer.from(secret, 'utf8'), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign', 'verify']);
}
