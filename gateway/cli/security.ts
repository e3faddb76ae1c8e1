/**
 * The security settings of a node in one object (SecuritySettings) that the roles hand to the
 * distributor and the socket server, checked together. The settings themselves are lines of
 * node-options.ts (each a flag and a SYNCMESH_* variable; the flag wins):
 *
 *   --ticket-secret       SYNCMESH_TICKET_SECRET       gateway, socket  ticket HMAC secret, the same on every node
 *   --ticket-ttl-ms N     SYNCMESH_TICKET_TTL_MS       gateway, socket  ticket lifetime (30000), the same on every node
 *   --jwt-secret          SYNCMESH_JWT_SECRET          gateway  HS256 secret shared with the token issuer
 *   --jwks-file PATH      SYNCMESH_JWKS_FILE           gateway  issuer public keys (EdDSA, RS256, ES256)
 *   --jwks-url URL        SYNCMESH_JWKS_URL            gateway  issuer JWKS endpoint
 *   --jwt-issuer S        SYNCMESH_JWT_ISSUER          gateway  required `iss` of user tokens
 *   --jwt-audience S      SYNCMESH_JWT_AUDIENCE        gateway  required `aud` of user tokens
 *   --jwt-max-lifetime N  SYNCMESH_JWT_MAX_LIFETIME    gateway  longest token lifetime accepted, seconds (86400)
 *   --dev-jwt-secret      SYNCMESH_DEV_JWT_SECRET      gateway  dev mode: the key dev tokens are signed with
 *   --dev-unsafe-public   SYNCMESH_DEV_UNSAFE_PUBLIC   gateway  dev mode on a non-loopback address anyway
 */
import type { JwtOptions } from '../distributor/mod.js';
import { UsageError } from './errors.js';
import { envName } from './options.js';

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

/** The settings security.ts reads (a subset of node-options.ts). */
export interface SecurityValues {
  'ticket-secret'?: string | undefined;
  'ticket-ttl-ms': number;
  'jwt-secret'?: string | undefined;
  'jwks-file'?: string | undefined;
  'jwks-url'?: string | undefined;
  'jwt-issuer'?: string | undefined;
  'jwt-audience'?: string | undefined;
  'jwt-max-lifetime'?: number | undefined;
  'dev-jwt-secret'?: string | undefined;
  'dev-unsafe-public': boolean;
}

const MIN_SECRET_CHARS = 16;

function secret(values: SecurityValues, name: 'ticket-secret' | 'jwt-secret' | 'dev-jwt-secret', required: boolean): string | undefined {
  const value = values[name];
  if (value === undefined || value === '') {
    if (required) {
      throw new UsageError(`no --${name} (or ${envName(name)}): give a secret of at least ${MIN_SECRET_CHARS} characters, the same on every node of the cluster`);
    }
    return undefined;
  }
  if (value.length < MIN_SECRET_CHARS) throw new UsageError(`--${name} (or ${envName(name)}) is shorter than ${MIN_SECRET_CHARS} characters; use a long random string`);
  return value;
}

/**
 * Reads the settings for a node running `gateway` and/or `socket`. Throws UsageError naming what to
 * set: a ticket secret for either role; for the gateway, at least one token key unless in dev mode.
 */
export function securitySettings(values: SecurityValues, roles: { gateway: boolean; socket: boolean; devMode: boolean }): SecuritySettings {
  const ticketSecret = roles.gateway || roles.socket ? secret(values, 'ticket-secret', true)! : '';
  const jwtSecret = roles.gateway ? secret(values, 'jwt-secret', false) : undefined;
  const devTokenSecret = roles.gateway && roles.devMode ? secret(values, 'dev-jwt-secret', false) : undefined;
  const jwksFile = values['jwks-file'] || undefined;
  const jwksUrl = values['jwks-url'] || undefined;
  if (roles.gateway && !roles.devMode && jwtSecret === undefined && jwksFile === undefined && jwksUrl === undefined) {
    throw new UsageError('the gateway needs a key to check user tokens: set --jwt-secret (SYNCMESH_JWT_SECRET, HS256), --jwks-file or --jwks-url (or run with --dev)');
  }
  const issuer = values['jwt-issuer'] || undefined;
  const audience = values['jwt-audience'] || undefined;
  const maxLifetimeSec = values['jwt-max-lifetime'];
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
    ticketTtlMs: values['ticket-ttl-ms'],
    jwt,
    ...(devTokenSecret !== undefined && { devTokenSecret }),
    devUnsafePublic: values['dev-unsafe-public'],
  };
}
