/**
 * Internal entry for sibling packages and tests: the wire format and building blocks that are not
 * part of the public API and may change.
 */
export {
  Op,
  EXPLICIT,
  checkEnvelope,
  readEnvelope,
  readReply,
  askBytes,
  tellBytes,
  envelopeBytes,
  okReplyBytes,
  errorReplyBytes,
  subjects,
  MAX_ID_LENGTH,
  MAX_KIND_LENGTH,
} from './envelope.js';
export { MAX_BATCH_BYTES } from './outbox.js';
export { actorKey, isCasConflict } from './leases.js';
export { KvRequests, KV_REQUEST_TIMEOUT_MS } from './kv-requests.js';
export { KeyRemoval } from './key-removal.js';
export { LeaseStore, type HolderLiveness } from './leases.js';
export { hashLanes, pairScore, pickHashed } from './placement.js';
export { Mailbox } from './mailbox.js';
export { PassivationPacer } from './passivation-pacer.js';
export { canMove, CellLifecycle, CellStatus } from './cell-lifecycle.js';
export { SelfFencing } from './fencing.js';
export { Membership } from './membership.js';
export { systemClock } from './clock.js';
export type { Envelope, EnvelopeFrame, EnvelopeProblem, Reply, Subjects } from './envelope.js';
export type { HashLanes } from './placement.js';
export type { KvEntry } from './kv-requests.js';
export type { Clock, TimerHandle } from './clock.js';
export type { ConnectionStatus, FencingDeps } from './fencing.js';
