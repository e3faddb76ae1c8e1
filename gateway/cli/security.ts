/**
 * The security settings of a node, from flags and environment, in one object (SecuritySettings) that
 * the roles hand to the distributor and the socket server. Flags win over the environment.
 *
 *   flag                  env                          role     meaning
 *   --jwt-issuer S        SYNCMESH_JWT_ISSUER          gateway  required `iss` of user tokens
 *   --jwt-audience S      SYNCMESH_JWT_AUDIENCE        gateway  required `aud` of user tokens
 *   --jwt-max-lifetime N  SYNCMESH_JWT_MAX_LIFETIME    gateway  longest token lifetime accepted, seconds (86400)
 *   --jwks-file PATH      SYNCMESH_JWKS_FILE           gateway  issuer public keys (EdDSA, RS256, ES256)
 *   --jwks-url URL        SYNCMESH_JWKS_URL            gateway  issuer JWKS endpoint
 *   (none)                SYNCMESH_JWT_SECRET          gateway  HS256 secret shared with the issuer
 *   (none)                SYNCMESH_DEV_JWT_SECRET      gateway  dev mode: the key dev tokens are signed with
 *   --dev-unsafe-public   -                            gateway  dev mode on a non-loopback address anyway
 *   --ticket-ttl-ms N     SYNCMESH_TICKET_TTL_MS       both     ticket lifetime (30000), same on every node
 *   (none)                SYNCMESH_TICKET_SECRET       both     ticket HMAC secret, same on every node
 */
import type { JwtOptions } from '../distributor/mod.js';
import { UsageError, type FlagSpec, type FlagValues } from './args.js';

export const SECURITY_FLAGS = {
  'jwt-issuer': { kind: 'string', help: 'gateway: required issuer (iss) of user tokens (env SYNCMESH_JWT_ISSUER)' },
  'jwt-audience': { kind: 'string', help: 'gateway: required audience (aud) of user tokens (env SYNCMESH_JWT_AUDIENCE)' },
  'jwt-max-lifetime': { kind: 'int', min: 60, max: 31_536_000, help: 'gateway: longest user-token lifetime accepted, seconds (default 86400; env SYNCMESH_JWT_MAX_LIFETIME)' },
  'jwks-file': { kind: 'string', help: 'gateway: JWKS file with the issuer public keys, EdDSA/RS256/ES256 (env SYNCMESH_JWKS_FILE)' },
  'jwks-url': { kind: 'string', help: 'gateway: JWKS URL of the issuer (env SYNCMESH_JWKS_URL)' },
  'dev-unsafe-public': { kind: 'bool', help: 'gateway: allow dev mode on a non-loopback address (anyone reaching it can act as any user)' },
  'ticket-ttl-ms': { kind: 'int', min: 1_000, max: 300_000, help: 'gateway, socket: ticket lifetime in ms, the same on every node (default 30000; env SYNCMESH_TICKET_TTL_MS)' },
} satisfies FlagSpec;

/** Everything security-related a node's roles need. */
export interface SecuritySettings {
  /** Ticket HMAC secret (gateway, socket); '' when neither role runs. */
  readonly ticketSecret: string;
  readonly ticketTtlMs: number;
  /** How user tokens are checked (gateway). */
  readonly jwt: JwtOptions;
  /** Dev mode: the dev token key (random per process when unset). */
  readonly devTokenSecret?: string;
  readonly devUnsafePublic: boolean;
}

const MIN_SECRET_CHARS = 16;

function envSecret(env: NodeJS.ProcessEnv, name: string, required: boolean): string | undefined {
  const value = env[name];
  if (value === undefined || value === '') {
    if (required) throw new UsageError(`${name} must be set to a secret of at least ${MIN_SECRET_CHARS} characters, the same on every node of the cluster`);
    return undefined;
  }
  if (value.length < MIN_SECRET_CHARS) throw new UsageError(`${name} is shorter than ${MIN_SECRET_CHARS} characters; use a long random string`);
  return value;
}

function envInt(env: NodeJS.ProcessEnv, name: string): number | undefined {
  const raw = env[name];
  if (raw === undefined || raw === '') return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n) || n <= 0) throw new UsageError(`${name} must be a positive whole number (got ${JSON.stringify(raw)})`);
  return n;
}

/**
 * Reads the settings for a node running `gateway` and/or `socket`. Throws UsageError naming what to
 * set: a ticket secret for either role; for the gateway, at least one token key unless in dev mode.
 */
export function securitySettings(
  flags: FlagValues<typeof SECURITY_FLAGS>,
  roles: { gateway: boolean; socket: boolean; devMode: boolean },
  env: NodeJS.ProcessEnv = process.env,
): SecuritySettings {
  const ticketSecret = roles.gateway || roles.socket ? envSecret(env, 'SYNCMESH_TICKET_SECRET', true)! : '';
  const jwtSecret = roles.gateway ? envSecret(env, 'SYNCMESH_JWT_SECRET', false) : undefined;
  const devTokenSecret = roles.gateway && roles.devMode ? envSecret(env, 'SYNCMESH_DEV_JWT_SECRET', false) : undefined;
  const jwksFile = flags['jwks-file'] ?? (env['SYNCMESH_JWKS_FILE'] || undefined);
  const jwksUrl = flags['jwks-url'] ?? (env['SYNCMESH_JWKS_URL'] || undefined);
  if (roles.gateway && !roles.devMode && jwtSecret === undefined && jwksFile === undefined && jwksUrl === undefined) {
    throw new UsageError('the gateway needs a key to check user tokens: set SYNCMESH_JWT_SECRET (HS256), --jwks-file or --jwks-url (or run with --dev)');
  }
  const issuer = flags['jwt-issuer'] ?? (env['SYNCMESH_JWT_ISSUER'] || undefined);
  const audience = flags['jwt-audience'] ?? (env['SYNCMESH_JWT_AUDIENCE'] || undefined);
  const maxLifetimeSec = flags['jwt-max-lifetime'] ?? envInt(env, 'SYNCMESH_JWT_MAX_LIFETIME');
  const jwt: JwtOptions = {
    ...(jwtSecret !== undefined && { secret: jwtSecret }),
    ...(jwksFile !== undefined && { jwksFile }),
    ...(jwksUrl !== undefined && { jwksUrl }),
    ...(issuer !== undefined && { issuer }),
    ...(audience !== undefined && { audience }),
    ...(maxLifetimeSec !== undefined && { maxLifetimeSec }),
  };
  return {
    ticketSecret,
    ticketTtlMs: flags['ticket-ttl-ms'] ?? envInt(env, 'SYNCMESH_TICKET_TTL_MS') ?? 30_000,
    jwt,
    ...(devTokenSecret !== undefined && { devTokenSecret }),
    devUnsafePublic: flags['dev-unsafe-public'] ?? false,
  };
}
