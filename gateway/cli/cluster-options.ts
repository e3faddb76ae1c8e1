/**
 * Every setting of `syncmesh cluster` (what `npm start` runs; PROTOCOL.md section 1), one line each.
 */
import type { OptionTable } from './options.js';

export const CLUSTER_OPTIONS = {
  'http-port': { kind: 'int', default: 8080, min: 0, max: 65535, help: 'HTTP port of the gateway (0 = a free port)' },
  'http-threads': { kind: 'int', default: 1, min: 1, max: 64, help: "threads answering the gateway's HTTP API on its one port" },
  'nats-port': { kind: 'int', default: 4222, min: 0, max: 65535, help: 'NATS client port (0 = a free port)' },
  'socket-nodes': { kind: 'int', default: 2, min: 1, max: 64, help: 'number of socket-server nodes' },
  'storm-rate': { kind: 'int', default: 2000, min: 0, max: 1_000_000, help: "each socket node's --storm-rate: connections a second a surviving socket node takes, which sizes the reconnect spread of fallback offers (0 = none)" },
  'store-partitions': { kind: 'int', min: 1, max: 64, placeholder: 'N', help: "storage partitions of a new cluster's data (every node's --store-partitions; default: what the data dir's cluster has, 1 for a new one). Fixed once the data exists" },
  'data-dir': { kind: 'string', default: './data', placeholder: 'DIR', help: 'where JetStream data, secrets, logs and cluster.json are kept' },
  host: { kind: 'string', default: '127.0.0.1', placeholder: 'ADDR', help: 'address every part listens on and announces' },
  dev: { kind: 'bool', default: true, help: 'dev mode: POST /v1/dev/token hands out tokens (--no-dev turns it off)' },
  'dev-unsafe-public': { kind: 'bool', default: false, help: 'allow dev mode with a non-loopback --host (anyone reaching it can act as any user)' },
  help: { kind: 'bool', default: false, flagOnly: true, help: 'print this help and exit' },
} as const satisfies OptionTable;
