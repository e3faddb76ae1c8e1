/**
 * The push server: public entry point. Everything another package may use is listed here by name.
 */
export { publishPush, resolveUsers, MAX_PUSH_USERS, MAX_PUSH_DEVICES } from './publish.js';
export { pushKind, PUSH_KIND } from './push-actor.js';
export { BadPushError } from './errors.js';

export type { PushKindOptions, PushObserver } from './push-actor.js';
export type { ConnectionIds, ResolvedCondition } from './publish.js';
