/**
 * The cloud storage: public entry point. Everything another package may use is listed here by name.
 */
export { createCloudStore } from './cloud-store.js';
export { storeKind, STORE_KIND } from './store-actor.js';
export { DEFAULT_STORE_LIMITS, parseStoreLimits } from './limits.js';
export { INDEX_DUPLICATE_WINDOW_MS, storeStreamConfigs } from './streams.js';
export { storeLayout, storeLayouts, storePartition, otherPartitioningStreams, checkPartitions, MAX_STORE_PARTITIONS, storeUserKey, storeDeviceKey, nameToken, tokenName } from './layout.js';
export {
  StoreErrorCodes,
  StoreError,
  BadRequestError,
  TooLargeError,
  RateLimitedError,
  QuotaExceededError,
  StaleWriteError,
  StoreUnavailableError,
  StoreSetupError,
} from './errors.js';

export type { CloudStore, CloudStoreOptions } from './cloud-store.js';
export type { StoreKindOptions, StoreObserver, StoreOutcome } from './store-actor.js';
export type { CommitInput, CommitOutcome } from './commit.js';
export type { PullInput } from './pull.js';
export type { SendInput, AckInput, PendingInput, AckOutcome, ClearDeliveredInput } from './commands.js';
export type { StoreLimits } from './limits.js';
export type { StoreLayout } from './layout.js';
export type { StoreErrorCode } from './errors.js';
