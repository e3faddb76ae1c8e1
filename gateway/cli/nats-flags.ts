/**
 * The flags (and environment variables) that say how a node reaches NATS: servers, credentials, TLS.
 * Each flag falls back to its environment variable, so secrets need not appear on a command line.
 */
import type { NatsClientConfig } from '../nats/mod.js';
import type { FlagSpec, FlagValues } from './args.js';

export const NATS_FLAGS = {
  nats: { kind: 'list', help: 'NATS server URLs, comma-separated (default $SYNCMESH_NATS or nats://127.0.0.1:4222; tls:// for TLS)' },
  'nats-nkey': { kind: 'string', help: 'NATS user nkey seed file of this role (default $SYNCMESH_NATS_NKEY)' },
  'nats-user': { kind: 'string', help: 'NATS user name, instead of an nkey; password from $SYNCMESH_NATS_PASSWORD (default $SYNCMESH_NATS_USER)' },
  'nats-ca': { kind: 'string', help: 'CA certificate (PEM) the NATS servers\' certificates are checked against; turns TLS on (default $SYNCMESH_NATS_CA)' },
  'nats-cert': { kind: 'string', help: 'client certificate (PEM) when the NATS servers verify clients (default $SYNCMESH_NATS_CERT)' },
  'nats-key': { kind: 'string', help: 'key of --nats-cert (PEM) (default $SYNCMESH_NATS_KEY)' },
} satisfies FlagSpec;

/** The NATS client settings of a node with `roles`, from its flags, else the environment. */
export function natsClientConfig(flags: FlagValues<typeof NATS_FLAGS>, roles: readonly string[], env: NodeJS.ProcessEnv = process.env): NatsClientConfig {
  const pick = (flag: string | undefined, name: string): string | undefined => flag ?? (env[name] || undefined);
  const nkeyFile = pick(flags['nats-nkey'], 'SYNCMESH_NATS_NKEY');
  const user = pick(flags['nats-user'], 'SYNCMESH_NATS_USER');
  const password = env['SYNCMESH_NATS_PASSWORD'] || undefined;
  const caFile = pick(flags['nats-ca'], 'SYNCMESH_NATS_CA');
  const certFile = pick(flags['nats-cert'], 'SYNCMESH_NATS_CERT');
  const keyFile = pick(flags['nats-key'], 'SYNCMESH_NATS_KEY');
  return {
    servers: flags.nats ?? (env['SYNCMESH_NATS'] ?? 'nats://127.0.0.1:4222').split(','),
    roles,
    name: `syncmesh-${roles.join('+')}`,
    ...(nkeyFile !== undefined && { nkeyFile }),
    ...(user !== undefined && { user }),
    ...(password !== undefined && { password }),
    ...(caFile !== undefined && { caFile }),
    ...(certFile !== undefined && { certFile }),
    ...(keyFile !== undefined && { keyFile }),
  };
}
