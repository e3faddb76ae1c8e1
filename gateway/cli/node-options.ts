/**
 * Every setting of `syncmesh node`, one line each (see options.ts for what a line gives). The help
 * groups them by `group`; docs/operations.md lists the same table (test/cli/program.test.ts checks it).
 *
 * Adding a setting: one line here, then read `values['its-name']` where it is used: NATS connection
 * settings in nats-connect.ts, everything else in rolesConfig() (node.ts).
 */
import type { OptionTable } from './options.js';

export const ROLE_NAMES = ['gateway', 'storage', 'push', 'socket'] as const;
export type RoleName = (typeof ROLE_NAMES)[number];
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

export const NODE_OPTIONS = {
  roles: { kind: 'list', required: true, choices: ROLE_NAMES, placeholder: 'ROLES', help: `roles of this node, comma-separated: ${ROLE_NAMES.join(', ')}` },
  nats: { kind: 'list', default: ['nats://127.0.0.1:4222'], placeholder: 'URLS', help: 'NATS server URLs, comma-separated (any server of the cluster; the client learns the others; tls:// for TLS)' },
  'nats-nkey': { kind: 'string', placeholder: 'FILE', group: 'nats', help: 'NATS user nkey seed file of this role (docs/deployment.md)' },
  'nats-user': { kind: 'string', group: 'nats', help: 'NATS user name, instead of an nkey (with --nats-password)' },
  'nats-password': { kind: 'string', placeholder: 'SECRET', group: 'nats', help: 'password of --nats-user (prefer the variable: flags show in ps)' },
  'nats-ca': { kind: 'string', placeholder: 'FILE', group: 'nats', help: "CA certificate (PEM) the NATS servers' certificates are checked against; turns TLS on" },
  'nats-cert': { kind: 'string', placeholder: 'FILE', group: 'nats', help: 'client certificate (PEM) when the NATS servers verify clients' },
  'nats-key': { kind: 'string', placeholder: 'FILE', group: 'nats', help: 'key of --nats-cert (PEM)' },
  'node-id': { kind: 'string', placeholder: 'ID', help: 'unique node id, [A-Za-z0-9_-] (default: a random one)' },
  prefix: { kind: 'string', default: 'sm', help: 'subject, stream and bucket prefix shared by every node of the cluster' },
  replicas: { kind: 'int', min: 1, max: 5, help: "JetStream replicas of every stream and bucket; must agree with the cluster's settings (default: the cluster's; the first node picks 3 on clustered NATS, 1 on one server)" },
  'store-partitions': { kind: 'int', min: 1, max: 64, placeholder: 'N', help: "storage partitions: each user's data lives in one of N sets of streams, each with its own leader; fixed when the cluster is created, must agree with the cluster's settings (default: the cluster's; a new cluster 1)" },
  'ticket-secret': { kind: 'string', placeholder: 'SECRET', help: 'gateway, socket: secret tickets are signed with, >= 16 characters, the same on every node (prefer the variable: flags show in ps)' },
  'ticket-ttl-ms': { kind: 'int', default: 30_000, min: 1_000, max: 300_000, help: 'gateway, socket: ticket lifetime in ms, the same on every node' },
  'jwt-secret': { kind: 'string', placeholder: 'SECRET', group: 'user tokens (gateway)', help: 'HS256 secret user tokens are verified with, >= 16 characters (prefer the variable); optional with --jwks-file/--jwks-url or --dev' },
  'jwks-file': { kind: 'string', placeholder: 'FILE', group: 'user tokens (gateway)', help: 'JWKS file with the token issuer public keys (EdDSA, RS256, ES256)' },
  'jwks-url': { kind: 'string', placeholder: 'URL', group: 'user tokens (gateway)', help: 'JWKS URL of the token issuer' },
  'jwt-issuer': { kind: 'string', group: 'user tokens (gateway)', help: 'required issuer (iss) of user tokens (default: any)' },
  'jwt-audience': { kind: 'string', group: 'user tokens (gateway)', help: 'required audience (aud) of user tokens (default: any)' },
  'jwt-max-lifetime': { kind: 'int', min: 60, max: 31_536_000, group: 'user tokens (gateway)', help: 'longest user-token lifetime accepted, seconds (default 86400)' },
  'log-level': { kind: 'string', default: 'info', choices: LOG_LEVELS, help: 'log level (JSON lines on stderr)' },
  'http-host': { kind: 'string', default: '0.0.0.0', group: 'gateway', placeholder: 'ADDR', help: 'listen address of the HTTP API and demo page' },
  'http-port': { kind: 'int', default: 8080, min: 0, max: 65535, group: 'gateway', help: 'HTTP port (0 = a free port)' },
  'http-threads': { kind: 'int', default: 1, min: 1, max: 64, group: 'gateway', help: 'threads answering the HTTP API on the one port (the kernel spreads connections over them); up to one per core' },
  dev: { kind: 'bool', default: false, group: 'gateway', help: 'dev mode: POST /v1/dev/token hands out a token for any user id; never in production' },
  'dev-jwt-secret': { kind: 'string', placeholder: 'SECRET', group: 'gateway', help: 'dev mode: the key dev tokens are signed with (default: a random one per process); never a real token key' },
  'dev-unsafe-public': { kind: 'bool', default: false, group: 'gateway', help: 'allow dev mode on a non-loopback --http-host (anyone reaching it can act as any user)' },
  'static-dir': { kind: 'string', group: 'gateway', placeholder: 'DIR', help: 'directory served at / (default: the built demo page)' },
  'socket-host': { kind: 'string', default: '0.0.0.0', group: 'socket', placeholder: 'ADDR', help: 'listen address of the WebSocket server' },
  'socket-port': { kind: 'int', default: 0, min: 0, max: 65535, group: 'socket', help: 'WebSocket port (0 = a free port)' },
  'public-host': { kind: 'string', group: 'socket', placeholder: 'HOST', help: 'host clients connect to, when it differs from the listen address (default: the listen address; 127.0.0.1 for 0.0.0.0)' },
  'public-url': { kind: 'string', group: 'socket', placeholder: 'URL', help: 'exact WebSocket URL the distributor hands out, for a node behind a proxy (e.g. wss://ws1.example.com/ws); overrides --public-host' },
  capacity: { kind: 'int', default: 1, min: 1, max: 1000, group: 'socket', help: 'weight of this node in allocation (a node of capacity 2 gets twice the connections)' },
  'drain-spread-ms': { kind: 'int', default: 5000, min: 0, max: 600000, group: 'socket', help: 'on SIGTERM, clients are told to reconnect at moments spread over this many ms' },
  'fallback-ticket-ttl-ms': { kind: 'int', default: 3_600_000, min: 0, max: 86_400_000, group: 'socket', help: "lifetime of the fallback ticket each session gets in its welcome, for the node it moves to if this one dies (capped by the user's token; 0 = none), the same on every socket node" },
  'fallback-defer-starting': { kind: 'int', default: 128, min: 0, max: 1_000_000, group: 'socket', help: "while this node is starting at least this many sessions (a reconnect storm), welcomes go without their fallback offer and get it in a frame once the burst is over (0 = never)" },
  'storm-rate': { kind: 'int', default: 2000, min: 0, max: 1_000_000, group: 'socket', help: "connections a second each surviving socket node takes when a node dies: fallback offers tell this node's clients to spread their reconnects over its connections / (other socket nodes x N) seconds, 1-120 s (0 = no server-sized spread)" },
  'max-starting-sessions': { kind: 'int', default: 8192, min: 0, max: 1_000_000, group: 'socket', help: 'admission control: sessions starting at once (open until its pending commands are fetched); more upgrades get 503 + Retry-After and go back to the distributor (0 = no bound)' },
  'store-limits': { kind: 'list', default: [], group: 'storage', placeholder: 'NAME=VALUE,...', help: 'quota and limit overrides (maxUserBytes, maxDevicesPerUser, recordStreamBytes...; actors/store/README.md)' },
  'command-ttl-ms': { kind: 'int', min: 1, group: 'storage', help: 'drop unacknowledged device commands after this long (default: never)' },
  'tls-cert': { kind: 'string', group: 'tls (gateway, socket)', placeholder: 'FILE', help: 'PEM certificate (chain): the gateway serves https and the socket server wss with it; needs --tls-key' },
  'tls-key': { kind: 'string', group: 'tls (gateway, socket)', placeholder: 'FILE', help: 'PEM private key of --tls-cert' },
  'metrics-port': { kind: 'int', min: 0, max: 65535, group: 'health and metrics', help: 'port of GET /metrics (Prometheus), /healthz and /readyz (default: none; 0 = a free port)' },
  'metrics-host': { kind: 'string', default: '127.0.0.1', group: 'health and metrics', placeholder: 'ADDR', help: 'listen address of the metrics and health endpoint (keep it private)' },
  help: { kind: 'bool', default: false, flagOnly: true, help: 'print this help and exit' },
} as const satisfies OptionTable;
