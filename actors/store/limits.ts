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
  /** Unacknowledged commands kept per target device; one more is refused with quota_exceeded. */
  readonly maxPendingCommands: number;
  /**
   * Quota: bytes of one user's current values (every collection, encoded). A commit that would go
   * over it and grow the total is refused with quota_exceeded; deletes and shrinking writes pass.
   */
  readonly maxUserBytes: number;
  /**
   * Quota: keys of one collection, deleted keys included (a tombstone keeps its place so devices learn
   * of the delete). A commit adding keys over it is refused with quota_exceeded.
   */
  readonly maxKeysPerCollection: number;
  /** Quota: collections of one user; a commit to one more is refused with quota_exceeded. */
  readonly maxCollectionsPerUser: number;
  /**
   * Quota: devices of one user. A device becomes known at its first connect (the pending look-up);
   * one more device is refused with quota_exceeded (it connects, but receives no commands).
   */
  readonly maxDevicesPerUser: number;
  /** Commit txids remembered per collection: a commit resent with one of them answers its first result. */
  readonly txidWindow: number;
  /**
   * Bytes of keys and values a collection keeps inline in its index (README.md "Inline values"): a
   * commit whose values fit is one JetStream write. Not a quota: a value that does not fit goes to the
   * record stream. 1 keeps nothing inline.
   */
  readonly inlineCollectionBytes: number;
  /**
   * max_bytes of the record stream (`<prefix>-records`); when full, writes answer quota_exceeded. With
   * several storage partitions this (and the two below) is the total: each partition's stream has an
   * equal share.
   */
  readonly recordStreamBytes: number;
  /** max_bytes of the index stream (`<prefix>-index`), over all partitions. */
  readonly indexStreamBytes: number;
  /** max_bytes of the command stream (`<prefix>-devcmds`), over all partitions. */
  readonly commandStreamBytes: number;
}

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

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
  maxUserBytes: 64 * MiB,
  maxKeysPerCollection: 10_000,
  maxCollectionsPerUser: 100,
  maxDevicesPerUser: 100,
  txidWindow: 64,
  inlineCollectionBytes: 4096,
  // 6 GiB in all: under the 10 GB JetStream store of the local cluster (nats-server.conf), so a
  // stream fills, and answers quota_exceeded, before JetStream as a whole does.
  recordStreamBytes: 4 * GiB,
  indexStreamBytes: 1 * GiB,
  commandStreamBytes: 1 * GiB,
};

/**
 * Limit overrides from `name=value` texts (the storage role's `--store-limits` flag), checked against
 * the names of StoreLimits: every value a whole number of at least 1. Throws TypeError naming the
 * bad entry and the known names.
 */
export function parseStoreLimits(pairs: readonly string[]): Partial<StoreLimits> {
  const known = Object.keys(DEFAULT_STORE_LIMITS);
  const out: Record<string, number> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    const name = eq < 0 ? pair : pair.slice(0, eq);
    if (!known.includes(name)) throw new TypeError(`unknown storage limit ${JSON.stringify(name)}; known: ${known.join(', ')}`);
    const value = Number(pair.slice(eq + 1));
    if (eq < 0 || !Number.isSafeInteger(value) || value < 1) throw new TypeError(`storage limit ${name} needs a whole number of at least 1, as ${name}=N; got ${JSON.stringify(pair)}`);
    out[name] = value;
  }
  return out as Partial<StoreLimits>;
}
