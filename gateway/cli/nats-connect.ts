/**
 * How a node connects to NATS, from its settings: the one place NATS connection settings (servers, and
 * settings such as credentials or a TLS CA added to node-options.ts) become nats.js ConnectionOptions.
 */
import type { ConnectionOptions } from '@nats-io/nats-core';
import type { NODE_OPTIONS, RoleName } from './node-options.js';
import type { OptionValues } from './options.js';

export function natsConnectOptions(values: OptionValues<typeof NODE_OPTIONS>, roles: readonly RoleName[]): ConnectionOptions {
  return {
    servers: values.nats,
    name: `syncmesh-${roles.join('+')}`,
    // A node never gives up on NATS: /readyz says 503 while it is away, and the node resumes when it is back.
    maxReconnectAttempts: -1,
    reconnectTimeWait: 250,
    pingInterval: 5_000,
  };
}
