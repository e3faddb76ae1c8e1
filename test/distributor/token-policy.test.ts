/**
 * The user-token policy (docs/security.md): exp required with a maximum lifetime, issuer and audience
 * checked, HS256 and asymmetric keys (EdDSA, RS256 from a JWKS file, a JWKS URL), dev tokens with a
 * key of their own, and a cache that never outlives a token's exp. Real jose signatures, a real HTTP
 * server for the JWKS URL; the clock is a test clock.
 */
import { createServer, type Server } from 'node:http';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SignJWT, exportJWK, exportSPKI, generateKeyPair, importJWK, type CryptoKey, type JWK } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEV_ISSUER, signDevToken, TokenVerifier, type JwtOptions } from '../../gateway/distributor/auth.js';
import { DistributorStartError, HttpError } from '../../gateway/distributor/errors.js';

const SECRET = 'policy-test-secret-0123456789abcdefgh';
const DEV_SECRET = 'policy-test-dev-secret-0123456789abcd';
const T0 = 1_800_000_000_000;
const S0 = T0 / 1000;

interface Claims {
  sub?: string;
  exp?: number;
  iss?: string;
  aud?: string;
  nbf?: number;
}

function hs256(claims: Claims, secret = SECRET): Promise<string> {
  return build(claims).setProtectedHeader({ alg: 'HS256' }).sign(new TextEncoder().encode(secret));
}

function build(c: Claims): SignJWT {
  const jwt = new SignJWT({}).setIssuedAt(S0);
  if (c.sub !== undefined) jwt.setSubject(c.sub);
  if (c.exp !== undefined) jwt.setExpirationTime(c.exp);
  if (c.iss !== undefined) jwt.setIssuer(c.iss);
  if (c.aud !== undefined) jwt.setAudience(c.aud);
  if (c.nbf !== undefined) jwt.setNotBefore(c.nbf);
  return jwt;
}

async function refusal(p: Promise<unknown>, code = 'unauthorized'): Promise<string> {
  const error = await p.then(() => undefined, (e: unknown) => e);
  expect(error).toBeInstanceOf(HttpError);
  expect((error as HttpError).code).toBe(code);
  return (error as HttpError).message;
}

const verifier = (options: JwtOptions, dev?: string, now = () => T0): TokenVerifier =>
  new TokenVerifier(options, { now, ...(dev !== undefined && { devSecret: dev }) });

interface Pair {
  privateKey: CryptoKey;
  jwk: JWK;
}

async function pair(alg: 'EdDSA' | 'RS256', kid: string): Promise<Pair> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  return { privateKey, jwk: { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' } };
}

function signWith(p: Pair, alg: 'EdDSA' | 'RS256', c: Claims): Promise<string> {
  return build(c).setProtectedHeader({ alg, kid: p.jwk.kid! }).sign(p.privateKey);
}

describe('token policy', () => {
  let dir: string;
  let ed: Pair;
  let rsa: Pair;
  let rotated: Pair;
  let jwksFile: string;
  let server: Server;
  let jwksUrl: string;
  let served: JWK[];
  let fetches = 0;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sm-jwks-'));
    [ed, rsa, rotated] = await Promise.all([pair('EdDSA', 'ed-1'), pair('RS256', 'rsa-1'), pair('RS256', 'rsa-2')]);
    jwksFile = join(dir, 'jwks.json');
    await writeFile(jwksFile, JSON.stringify({ keys: [ed.jwk, rsa.jwk] }));
    served = [rsa.jwk];
    server = createServer((_req, res) => {
      fetches++;
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: served }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    jwksUrl = `http://127.0.0.1:${(server.address() as { port: number }).port}/jwks.json`;
  });

  afterAll(async () => {
    await new Promise((resolve) => server?.close(resolve));
    await rm(dir, { recursive: true, force: true });
  });

  it('policy - exp is required; a token whose exp is further out than the maximum lifetime is refused, and the lifetime is settable', async () => {
    const v = verifier({ secret: SECRET });
    expect(await refusal(v.verify(await hs256({ sub: 'alice' })))).toMatch(/no expiry \(exp\).*24 h/);
    expect(await refusal(v.verify(await hs256({ sub: 'alice', exp: Date.UTC(2100, 0, 1) / 1000 })))).toMatch(/expires in \d+\.\d h, later than the 24 h this gateway accepts/);
    expect((await v.verify(await hs256({ sub: 'alice', exp: S0 + 24 * 3600 }))).sub).toBe('alice');
    expect(await refusal(v.verify(await hs256({ sub: 'alice', exp: S0 + 25 * 3600 })))).toMatch(/later than/);
    const oneHour = verifier({ secret: SECRET, maxLifetimeSec: 3600 });
    expect(await refusal(oneHour.verify(await hs256({ sub: 'alice', exp: S0 + 2 * 3600 })))).toMatch(/later than the 1 h/);
    expect((await oneHour.verify(await hs256({ sub: 'alice', exp: S0 + 3000 }))).sub).toBe('alice');
    expect(await refusal(v.verify(await hs256({ exp: S0 + 60 })))).toMatch(/no subject/);
    expect(await refusal(v.verify(await hs256({ sub: 'a', exp: S0 + 60, nbf: S0 + 600 })))).toMatch(/not valid yet/);
    expect(await refusal(v.verify(await hs256({ sub: 'a', exp: S0 - 60 })))).toMatch(/expired at 2027/);
  });

  it('policy - issuer and audience are checked when set, and the refusal names what was expected', async () => {
    const v = verifier({ secret: SECRET, issuer: 'https://id.example', audience: 'syncmesh' });
    const exp = S0 + 600;
    expect(await refusal(v.verify(await hs256({ sub: 'bob', exp })))).toMatch(/issuer none is not the trusted issuer "https:\/\/id.example"/);
    expect(await refusal(v.verify(await hs256({ sub: 'bob', exp, iss: 'https://evil.example', aud: 'syncmesh' })))).toMatch(/"https:\/\/evil.example" is not the trusted/);
    expect(await refusal(v.verify(await hs256({ sub: 'bob', exp, iss: 'https://id.example', aud: 'other-app' })))).toMatch(/audience "other-app" does not include "syncmesh"/);
    expect(await refusal(v.verify(await hs256({ sub: 'bob', exp, iss: 'https://id.example' })))).toMatch(/audience none/);
    expect((await v.verify(await hs256({ sub: 'bob', exp, iss: 'https://id.example', aud: 'syncmesh' }))).sub).toBe('bob');
    // Without a configured issuer any iss passes (the key is what is trusted), except the dev issuer.
    expect((await verifier({ secret: SECRET }).verify(await hs256({ sub: 'bob', exp, iss: 'anyone' }))).sub).toBe('bob');
  });

  it('policy - EdDSA and RS256 tokens verify against a JWKS file; unknown keys, other algorithms and an HS256 token made with the public key are refused', async () => {
    const v = verifier({ jwksFile, issuer: 'idp' });
    const exp = S0 + 600;
    expect((await v.verify(await signWith(ed, 'EdDSA', { sub: 'ed-user', exp, iss: 'idp' }))).sub).toBe('ed-user');
    expect((await v.verify(await signWith(rsa, 'RS256', { sub: 'rsa-user', exp, iss: 'idp' }))).sub).toBe('rsa-user');
    expect(await refusal(v.verify(await signWith(rotated, 'RS256', { sub: 'x', exp, iss: 'idp' })))).toMatch(/no key of the issuer's JWKS matches/);
    // An EdDSA signature under the RSA key's kid: the key does not match the algorithm.
    const forgedKid = await build({ sub: 'x', exp, iss: 'idp' }).setProtectedHeader({ alg: 'EdDSA', kid: 'rsa-1' }).sign((await pair('EdDSA', 'z')).privateKey);
    await refusal(v.verify(forgedKid));
    // No HS256 secret configured: HS256 is not accepted at all (no public key used as an HMAC secret).
    const pem = await exportSPKI((await importJWK(rsa.jwk, 'RS256', { extractable: true })) as CryptoKey);
    expect(await refusal(v.verify(await hs256({ sub: 'x', exp, iss: 'idp' }, pem)))).toMatch(/algorithm is not accepted here; this gateway accepts EdDSA, RS256, ES256/);
    // HS256 and a JWKS together: each token goes to its own key.
    const both = verifier({ secret: SECRET, jwksFile });
    expect((await both.verify(await hs256({ sub: 'h', exp }))).sub).toBe('h');
    expect((await both.verify(await signWith(ed, 'EdDSA', { sub: 'e', exp }))).sub).toBe('e');
    expect(await refusal(both.verify(await hs256({ sub: 'x', exp }, pem)))).toMatch(/signature does not verify/);
  });

  it('policy - a JWKS URL is fetched once, and again when a token names a new key (rotation) once the cooldown allows', async () => {
    const exp = Math.floor(Date.now() / 1000) + 600;
    const slow = verifier({ jwksUrl }, undefined, Date.now);
    expect((await slow.verify(await signWith(rsa, 'RS256', { sub: 'u0', exp }))).sub).toBe('u0');
    served = [rsa.jwk, rotated.jwk];
    // Within the default 30 s cooldown an unknown kid does not make the gateway fetch again.
    expect(await refusal(slow.verify(await signWith(rotated, 'RS256', { sub: 'u0', exp })))).toMatch(/no key of the issuer's JWKS/);
    expect(fetches).toBe(1);
    served = [rsa.jwk];
    fetches = 0;
    const v = verifier({ jwksUrl, jwksCooldownMs: 0 }, undefined, Date.now);
    expect((await v.verify(await signWith(rsa, 'RS256', { sub: 'u1', exp }))).sub).toBe('u1');
    expect((await v.verify(await signWith(rsa, 'RS256', { sub: 'u2', exp }))).sub).toBe('u2');
    expect(fetches).toBe(1);
    served = [rsa.jwk, rotated.jwk];
    expect((await v.verify(await signWith(rotated, 'RS256', { sub: 'u3', exp }))).sub).toBe('u3');
    expect(fetches).toBe(2);
  });

  it('policy - bad key sources fail at start with what to fix', async () => {
    expect(() => verifier({})).toThrow(DistributorStartError);
    expect(() => verifier({})).toThrow(/SYNCMESH_JWT_SECRET.*--jwks-file.*--jwks-url/);
    expect(() => verifier({ jwksFile: join(dir, 'missing.json') })).toThrow(/cannot read the JWKS file/);
    const priv = join(dir, 'private.json');
    await writeFile(priv, JSON.stringify({ keys: [await exportJWK(ed.privateKey)] }));
    expect(() => verifier({ jwksFile: priv })).toThrow(/private or symmetric key/);
    expect(() => verifier({ jwksUrl: 'not a url' })).toThrow(/is not a URL/);
    expect(() => verifier({ secret: SECRET, issuer: DEV_ISSUER })).toThrow(/reserved for dev tokens/);
  });

  it('dev tokens - signed with their own key: a dev gateway accepts them, a gateway out of dev mode never does, even with the same user-token secret', async () => {
    const dev = await signDevToken(DEV_SECRET, 'carol', T0);
    const devGateway = verifier({ secret: SECRET }, DEV_SECRET);
    expect(await devGateway.verify(dev)).toEqual({ sub: 'carol', expMs: T0 + 24 * 3600 * 1000, dev: true });
    // Real tokens still pass on a dev gateway.
    expect(await devGateway.verify(await hs256({ sub: 'dan', exp: S0 + 60 }))).toMatchObject({ sub: 'dan', dev: false });
    const prod = verifier({ secret: SECRET });
    expect(await refusal(prod.verify(dev))).toMatch(/dev token.*not in dev mode/);
    // A token claiming the dev issuer, signed with the user-token secret, does not pass either gateway.
    const fake = await hs256({ sub: 'carol', exp: S0 + 60, iss: DEV_ISSUER });
    expect(await refusal(prod.verify(fake))).toMatch(/not in dev mode/);
    expect(await refusal(devGateway.verify(fake))).toMatch(/signature does not verify/);
    // A dev token does not pass as a real one when the dev key happens to be the user-token secret elsewhere.
    expect(await refusal(verifier({ secret: DEV_SECRET }).verify(dev))).toMatch(/not in dev mode/);
    // A dev-only gateway (no issuer keys) refuses real tokens with a clear message.
    expect(await refusal(verifier({}, DEV_SECRET).verify(await hs256({ sub: 'x', exp: S0 + 60 })))).toMatch(/accepts dev tokens only/);
  });

  it('cache - never outlives exp: a cached token is refused once its exp passes, and a refused token is never cached', async () => {
    let now = T0;
    const v = verifier({ secret: SECRET }, undefined, () => now);
    const token = await hs256({ sub: 'eve', exp: S0 + 30 });
    expect((await v.verify(token)).sub).toBe('eve');
    expect(v.cached).toBe(1);
    now = T0 + 29_999;
    expect((await v.verify(token)).sub).toBe('eve');
    now = T0 + 30_000;
    expect(await refusal(v.verify(token))).toMatch(/expired/);
    expect(v.cached).toBe(0);
    now = T0;
    await refusal(v.verify(await hs256({ sub: 'eve' })));
    await refusal(v.verify(await hs256({ sub: 'eve', exp: S0 + 10 * 24 * 3600 })));
    expect(v.cached).toBe(0);
  });
});
