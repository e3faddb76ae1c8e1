/**
 * How a node reaches NATS, from its settings: the one place NATS connection settings (servers,
 * credentials, TLS) become the NatsClientConfig that gateway/nats turns into nats.js options.
 */
import type { NatsClientConfig } from '../nats/mod.js';
import type { NODE_OPTIONS, RoleName } from './node-options.js';
import type { OptionValues } from './options.js';

export function natsConnectOptions(values: OptionValues<typeof NODE_OPTIONS>, roles: readonly RoleName[]): NatsClientConfig {
  const nkeyFile = values['nats-nkey'];
  const user = values['nats-user'];
  const password = values['nats-password'];
  const caFile = values['nats-ca'];
  const certFile = values['nats-cert'];
  const keyFile = values['nats-key'];
  return {
    servers: values.nats,
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
