/**
 * NATS security of a Syncmesh cluster: the permission matrix, nats-server configuration text, role
 * credentials, and how a process connects. Public entry: everything listed by name.
 */
export { NATS_ROLES, permissionsFor, ownedStreams } from './permissions.js';
export { authorizationBlock, clientTlsBlock, routeSecurityText } from './server-config.js';
export { loadOrCreateRoleCredentials, loadOrCreateSeed, publicKeyOf } from './credentials.js';
export { natsConnectionOptions, inboxPrefixFor } from './connect-options.js';

export type { NatsRole, Permissions, SubjectRules, OwnedStream } from './permissions.js';
export type { RoleUser, ServerTls } from './server-config.js';
export type { RoleCredentials } from './credentials.js';
export type { NatsClientConfig } from './connect-options.js';
