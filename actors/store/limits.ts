/**
 * Size limits of the cloud storage. Each bounds what one request can make a storage node hold or
 * JetStream write, so a hostile or buggy client cannot make a request expensive for everyone.
 * Sizes of names count UTF-8 bytes; sizes of values count their MessagePack encoding.
 */
export interface StoreLimits {
  /** userId and deviceId: 1 to this many bytes. */
  readonly maxIdBytes: number;
  /** Collection names: 1 to this many bytes. */
  readonly maxCollectionBytes: number;
  /** Record keys: 1 to this many bytes. */
  readonly maxKeyBytes: number;
  /** One value, encoded. */
  readonly maxValueBytes: number;
  /** Changes in one commit. */
  readonly maxChanges: number;
  /** All values of one commit, encoded (must stay under the NATS max_payload the commit travels in). */
  readonly maxCommitBytes: number;
  /** Changes in one pull answer (a smaller `limit` in the request wins). */
  readonly maxPageChanges: number;
  /** Values in one pull answer, encoded; a page holds at least one change whatever its size. */
  readonly maxPageBytes: number;
  /** One command body, encoded. */
  readonly maxCommandBytes: number;
  /** Unacknowledged commands kept per target device; one more is refused with rate_limited. */
  readonly maxPendingCommands: number;
}

export const DEFAULT_STORE_LIMITS: StoreLimits = {
  // 128 characters (the distributor's limit) of up to 4 UTF-8 bytes each.
  maxIdBytes: 512,
  maxCollectionBytes: 128,
  maxKeyBytes: 512,
  maxValueBytes: 256 * 1024,
  maxChanges: 500,
  maxCommitBytes: 2 * 1024 * 1024,
  maxPageChanges: 500,
  maxPageBytes: 512 * 1024,
  maxCommandBytes: 64 * 1024,
  maxPendingCommands: 1000,
};
