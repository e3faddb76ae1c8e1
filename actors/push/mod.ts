/**
 * The push server: public entry point. Everything another package may use is listed here by name.
 */
export { publishPush, MAX_PUSH_USERS } from './publish.js';
export { pushKind, PUSH_KIND } from './push-actor.js';
export { BadPushError } from './errors.js';

export type { PushKindOptions, PushObserver } from './push-actor.js';
