/**
 * Contracts between Syncmesh server processes (not for browsers: it uses node:crypto): connection
 * identifiers, the push plane's condition, envelope and subjects, and socket-node membership keys.
 */
export { connectionId, userKey, deviceKey, isConnectionId, parseConnectionId, USER_KEY_LENGTH, DEVICE_KEY_LENGTH } from './identity.js';
export { IdentityCache } from './identity-cache.js';
export { pushSubjects, pushSlot, PUSH_SLOT_HEX, PUSH_SLOTS } from './push.js';
export { SOCKET_ROLE, SocketMetaKey, socketMeta, readSocketMeta } from './membership.js';

export type { PushCondition, PushEnvelope } from './push.js';
export type { SocketAnnouncement } from './membership.js';
