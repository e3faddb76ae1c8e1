/**
 * Token verification (with its cache) and token buckets, driven by a test clock. The token policy
 * itself (exp, lifetime, issuer, audience, keys, dev tokens) is in token-policy.test.ts.
 */
import { SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import { bearerToken, signDevToken, TokenVerifier } from '../../gateway/distributor/auth.js';
import { HttpError } from '../../gateway/distributor/errors.js';
import { RateLimiter } from '../../gateway/distributor/rate-limit.js';

const SECRET = 'auth-test-secret-0123456789abcdefgh';
const T0 = 1_800_000_000_000;

function signed(sub: string, expSec: number, extra: { issuer?: string; audience?: string } = {}): Promise<string> {
  const jwt = new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject(sub).setIssuedAt(T0 / 1000).setExpirationTime(expSec);
  if (extra.issuer) jwt.setIssuer(extra.issuer);
  if (extra.audience) jwt.setAudience(extra.audience);
  return jwt.sign(new TextEncoder().encode(SECRET));
}

async function unauthorized(p: Promise<unknown>): Promise<string> {
  const error = await p.then(() => undefined, (e: unknown) => e);
  expect(error).toBeInstanceOf(HttpError);
  expect((error as HttpError).code).toBe('unauthorized');
  return (error as HttpError).message;
}

describe('distributor auth', () => {
  it('tokens - a cached token still expires at its exp', async () => {
    let now = T0;
    const verifier = new TokenVerifier({ secret: SECRET }, { now: () => now });
    const token = await signed('alice', T0 / 1000 + 60);
    expect((await verifier.verify(token)).sub).toBe('alice');
    expect(verifier.cached).toBe(1);
    now = T0 + 59_000;
    expect((await verifier.verify(token)).sub).toBe('alice');
    now = T0 + 61_000;
    expect(await unauthorized(verifier.verify(token))).toMatch(/expired/);
    expect(verifier.cached).toBe(0);
  });

  it('tokens - the cache is bounded and concurrent first uses share one verification', async () => {
    const verifier = new TokenVerifier({ secret: SECRET }, { cacheSize: 3, now: () => T0 });
    const tokens = await Promise.all(['a', 'b', 'c', 'd', 'e'].map((s) => signed(s, T0 / 1000 + 600)));
    for (const t of tokens) await verifier.verify(t);
    expect(verifier.cached).toBe(3);
    const fresh = new TokenVerifier({ secret: SECRET }, { now: () => T0 });
    const results = await Promise.all(Array.from({ length: 20 }, () => fresh.verify(tokens[0]!)));
    expect(new Set(results).size).toBe(1);
  });

  it('tokens - only HS256 with our secret passes; the bearer header is parsed strictly', async () => {
    const verifier = new TokenVerifier({ secret: SECRET }, { now: () => T0 });
    const none = `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from(JSON.stringify({ sub: 'x', exp: T0 / 1000 + 60 })).toString('base64url')}.`;
    await unauthorized(verifier.verify(none));
    const hs512 = await new SignJWT({}).setProtectedHeader({ alg: 'HS512' }).setSubject('x').setExpirationTime(T0 / 1000 + 60).sign(new TextEncoder().encode(SECRET + SECRET));
    await unauthorized(verifier.verify(hs512));
    expect(bearerToken('Bearer abc')).toBe('abc');
    expect(bearerToken('bearer  abc ')).toBe('abc');
    expect(bearerToken('Bearer')).toBeUndefined();
    expect(bearerToken('Basic abc')).toBeUndefined();
    expect(bearerToken('')).toBeUndefined();
  });

  it('rate limit - a bucket holds one second of requests and refills at the rate', () => {
    let now = T0;
    const limiter = new RateLimiter({ ratePerSec: 4, now: () => now });
    for (let i = 0; i < 4; i++) expect(limiter.take('u').allowed).toBe(true);
    const refused = limiter.take('u');
    expect(refused).toEqual({ allowed: false, retryAfterMs: 250 });
    expect(limiter.take('v').allowed).toBe(true);
    now += 250;
    expect(limiter.take('u').allowed).toBe(true);
    expect(limiter.take('u').allowed).toBe(false);
    now += 10_000;
    for (let i = 0; i < 4; i++) expect(limiter.take('u').allowed).toBe(true);
    expect(limiter.take('u').allowed).toBe(false);
  });

  it('rate limit - memory stays bounded under a spray of keys', () => {
    const limiter = new RateLimiter({ ratePerSec: 1, maxKeys: 100, now: () => T0 });
    for (let i = 0; i < 10_000; i++) limiter.take(`k${i}`);
    expect(limiter.size).toBe(100);
    expect(() => new RateLimiter({ ratePerSec: 0 })).toThrow(RangeError);
  });
});
