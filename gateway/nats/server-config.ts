/**
 * nats-server configuration text for a secured Syncmesh cluster: the `authorization` block (one
 * user per role, nkeys, the permission matrix of permissions.ts), and TLS blocks for client and route
 * connections. Used by `npm start` (the local cluster writes its config into the data dir), by the
 * tests, and as the reference for config/cluster/*.conf.
 */
import { permissionsFor, type NatsRole, type Permissions } from './permissions.js';

/** One NATS user: the roles of the processes that use it and its public nkey (`U...`). */
export interface RoleUser {
  readonly roles: readonly NatsRole[];
  readonly nkey: string;
}

/** TLS files of a server (PEM). */
export interface ServerTls {
  readonly certFile: string;
  readonly keyFile: string;
  readonly caFile: string;
  /** Require a client certificate signed by the CA (always on for routes). */
  readonly verify?: boolean;
  /** Seconds a TLS handshake may take (default 3; nats-server's own default, 0.5, is tight on a busy host). */
  readonly timeoutSec?: number;
}

const q = (s: string): string => JSON.stringify(s);
const list = (xs: readonly string[]): string => `[${xs.map(q).join(', ')}]`;

function permissionsText(p: Permissions, indent: string): string {
  const dir = (name: string, r: Permissions['publish']): string =>
    `${indent}  ${name}: {\n${indent}    allow: ${list(r.allow)}\n${r.deny.length > 0 ? `${indent}    deny: ${list(r.deny)}\n` : ''}${indent}  }`;
  return `${indent}permissions: {\n${dir('publish', p.publish)}\n${dir('subscribe', p.subscribe)}\n${indent}}`;
}

/**
 * The `authorization` block: only these users may connect (no anonymous access: nats-server refuses
 * any connection without valid credentials once users are listed), each limited to its permissions.
 * `adminNkey`: an unrestricted operator user for the nats CLI (backups), if wanted. `partitions`: the
 * cluster's storage partitions (the storage role may use each partition's streams).
 */
export function authorizationBlock(users: readonly RoleUser[], prefix = 'sm', adminNkey?: string, partitions = 1): string {
  const entries = users.map((u) => `    # ${u.roles.join(', ')}\n    {\n      nkey: ${q(u.nkey)}\n${permissionsText(permissionsFor(u.roles, prefix, partitions), '      ')}\n    }`);
  // The operator's user (backups, restores, repairs with the nats CLI): unrestricted, so its seed stays off the node hosts.
  if (adminNkey !== undefined) entries.push(`    # operator (nats CLI: backups, restores); never given to a node\n    { nkey: ${q(adminNkey)} }`);
  // Seconds a client has to authenticate after connecting.
  return `authorization {\n  timeout: 5\n  users: [\n${entries.join('\n')}\n  ]\n}\n`;
}

/** The `tls` block of the client port. */
export function clientTlsBlock(t: ServerTls): string {
  return `tls {\n  cert_file: ${q(t.certFile)}\n  key_file: ${q(t.keyFile)}\n  ca_file: ${q(t.caFile)}\n  verify: ${t.verify === true}\n  timeout: ${t.timeoutSec ?? 3}\n}\n`;
}

/** Route settings inside `cluster {}`: mutual TLS and a route user (routes must present both). */
export function routeSecurityText(t: ServerTls | undefined, route: { user: string; password: string } | undefined): string {
  const parts: string[] = [];
  if (t) parts.push(`tls { cert_file: ${q(t.certFile)}, key_file: ${q(t.keyFile)}, ca_file: ${q(t.caFile)}, verify: true, timeout: ${t.timeoutSec ?? 3} }`);
  if (route) parts.push(`authorization { user: ${q(route.user)}, password: ${q(route.password)}, timeout: 2 }`);
  return parts.join('\n');
}
