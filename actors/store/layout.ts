/**
 * Where the cloud storage keeps things in JetStream: stream names, subjects and name encodings.
 *
 * Records (stream `<prefix>-records`, subjects `<prefix>.rec.>`): one message per written version of a
 * key; its stream sequence is the record's revision. Versions no index names any more are deleted.
 *
 *   <prefix>.rec.<storeUserKey(userId)>.<token(collection)>.<token(key)>.<version>
 *
 * Every version has a subject of its own (`<version>`: unique per write, see versionToken()). Reads
 * are by sequence only, so the subject is never looked up; it exists to make deletes cheap: nats-server
 * 2.9, removing the first message of a subject that has later ones, scans forward to the subject's next
 * message, so deleting a replaced version on a shared per-key subject cost O(messages written since),
 * 0.2 ms at 1k messages apart and growing with the whole service's write volume. Removing the only
 * message of a subject is O(1) (42 us on nats-server, measured). Records written by the first releases
 * of this layout have no `<version>` token; they are read the same way (keyOf reads the key token).
 *
 * Indexes (stream `<prefix>-index`, subjects `<prefix>.idx.>`, one message kept per subject), written
 * only by the user's store (compare-and-set on the subject's last sequence, see index.ts):
 *
 *   <prefix>.idx.usr.<storeUserKey(userId)>                                 the user: collections, devices
 *   <prefix>.idx.col.<storeUserKey(userId)>.<token(collection)>             a collection: key -> revision
 *   <prefix>.idx.dev.<storeUserKey(userId)>.<storeDeviceKey(userId, dev)>   a device: pending commands, notices
 *
 * Commands (stream `<prefix>-devcmds`, subjects `<prefix>.dcmd.>`): one message per command, listed by
 * its target device's index until acknowledged.
 *
 *   <prefix>.dcmd.<storeUserKey(userId)>.<storeDeviceKey(userId, deviceId)>.<nonce>
 *
 * (`<nonce>`: the command's own random nonce, so that acknowledging, which deletes it, is O(1) too.)
 *
 * - `token(name)` is the base64url (no padding) of the name's UTF-8 bytes: reversible, unambiguous and
 *   subject-safe for any string, so collection and key names need no character rules, only lengths.
 * - `storeUserKey` is 128 bits of SHA-256 (32 hex digits), not the 80-bit user key of connection ids
 *   (protocol/cluster/): a push subject collision only costs a message (receivers re-check the user id),
 *   but two users sharing a data namespace would be a leak, so the storage key is long enough that a
 *   collision never happens in practice. `storeDeviceKey` is built the same way from (userId, deviceId).
 * - A user can only name things under their own user key: every subject is built from the userId of
 *   the request, never from client-supplied subject text, and tokens cannot contain `.`, `*` or `>`.
 * - Every read is a literal-subject `last_by_subj` or a read by sequence: nats-server 2.9 keeps
 *   per-subject state for those, while a wildcard or `next_by_subj` read scans the stream.
 *
 * Partitions (`storePartitions` of the cluster's settings, fixed when the cluster is created): with P > 1
 * every user lives in one partition p = {@link storePartition} (the first 8 hex digits of the user key,
 * mod P), whose three streams are `<prefix>-records-<p>`, `<prefix>-index-<p>` and `<prefix>-devcmds-<p>`,
 * capturing `<prefix>.rec-<p>.>`, `<prefix>.idx-<p>.>` and `<prefix>.dcmd-<p>.>` (the subjects above
 * with `-<p>` on their second token, every other token where it was). Each stream has its own leader,
 * so the writes of a cluster are spread over P leaders instead of one (docs/capacity.md section 3).
 * With P = 1 (the default) the names are the unpartitioned ones above: a cluster created before
 * partitions existed reads its data as it is.
 */
import { createHash, randomBytes } from 'node:crypto';

export const STORE_KEY_LENGTH = 32;

function hashHex(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex').slice(0, STORE_KEY_LENGTH);
}

/** The storage namespace of `userId`. */
export function storeUserKey(userId: string): string {
  return hashHex(`syncmesh/v1/store-user\0${userId}`);
}

/** The command queue name of (`userId`, `deviceId`). */
export function storeDeviceKey(userId: string, deviceId: string): string {
  return hashHex(`syncmesh/v1/store-device\0${userId}\0${deviceId}`);
}

/** A subject token holding any non-empty string. */
export function nameToken(name: string): string {
  return Buffer.from(name, 'utf8').toString('base64url');
}

/** The string a {@link nameToken} holds. */
export function tokenName(token: string): string {
  return Buffer.from(token, 'base64url').toString('utf8');
}

/** The most storage partitions a cluster may have (each is three streams). */
export const MAX_STORE_PARTITIONS = 64;

/** The partition of `userId` among `partitions` (1 to MAX_STORE_PARTITIONS): stable for a given count. */
export function storePartition(userId: string, partitions: number): number {
  return partitions === 1 ? 0 : partitionOfKey(storeUserKey(userId), partitions);
}

function partitionOfKey(userKey: string, partitions: number): number {
  return Number.parseInt(userKey.slice(0, 8), 16) % partitions;
}

/** Throws a TypeError unless `partitions` is a whole number from 1 to MAX_STORE_PARTITIONS. */
export function checkPartitions(partitions: number): void {
  if (!Number.isInteger(partitions) || partitions < 1 || partitions > MAX_STORE_PARTITIONS) {
    throw new TypeError(`storage partitions must be a whole number from 1 to ${MAX_STORE_PARTITIONS}, got ${partitions}`);
  }
}

/** Stream names and subjects of one partition of a cluster prefix (the whole storage when unpartitioned). */
export interface StoreLayout {
  readonly prefix: string;
  /** This layout's partition (0 when unpartitioned) and how many the storage has. */
  readonly partition: number;
  readonly partitions: number;
  readonly recordStream: string;
  /**
   * The stream whose lifetime is the storage epoch of `welcome`: the index stream, which holds every
   * collection's revision counter (and small values), so revisions mean something only within its lifetime.
   */
  readonly dataStream: string;
  readonly indexStream: string;
  readonly commandStream: string;
  /** Streams of the first layout (one scanned data stream), not read any more. */
  readonly legacyStreams: readonly string[];
  /** Subjects the record stream captures. */
  readonly recordSubjects: string;
  /** Subjects the index stream captures. */
  readonly indexSubjects: string;
  /** Subjects the command stream captures. */
  readonly commandSubjects: string;
  /** The subject prefix of one key's versions: each version is `<this>.<version>` (recordVersion). */
  record(userId: string, collection: string, key: string): string;
  /** The subject of one version of a key; `version` from versionToken(). */
  recordVersion(userId: string, collection: string, key: string, version: string): string;
  /** The key a record subject names (its fifth token, with or without a version after it). */
  keyOf(subject: string): string;
  /** The subject of a user's index (collections, devices). */
  userIndex(userId: string): string;
  /** The subject of a collection's index. */
  collectionIndex(userId: string, collection: string): string;
  /** The subject of a device's index (pending commands, delivered notices). */
  deviceIndex(userId: string, deviceId: string): string;
  /** The subject of one command of a device (`nonce`: the command's own). */
  command(userId: string, deviceId: string, nonce: string): string;
}

const PREFIX = /^[A-Za-z0-9_-]{1,32}$/;

/**
 * The layout under `prefix` (letters, digits, `_`, `-`; it names streams too) of partition `partition` of
 * `partitions` (default: the one partition of unpartitioned storage).
 */
export function storeLayout(prefix: string, partition = 0, partitions = 1): StoreLayout {
  if (!PREFIX.test(prefix)) {
    throw new TypeError(`store prefix ${JSON.stringify(prefix)} must be 1-32 characters of [A-Za-z0-9_-]; it names subjects and streams`);
  }
  checkPartitions(partitions);
  if (!Number.isInteger(partition) || partition < 0 || partition >= partitions) {
    throw new TypeError(`storage partition ${partition} does not exist among ${partitions}`);
  }
  // Unpartitioned: the names of the first releases. Partitioned: `-<p>` on the stream names and on the
  // subjects' second token.
  const part = partitions === 1 ? '' : `-${partition}`;
  const rec = `${prefix}.rec${part}`;
  const idx = `${prefix}.idx${part}`;
  const dcmd = `${prefix}.dcmd${part}`;
  const userKeys = new Map<string, string>();
  // Commits and pulls of one user come in bursts: the hash is computed once per user, not per change.
  const userKeyOf = (userId: string): string => {
    let k = userKeys.get(userId);
    if (k === undefined) {
      if (userKeys.size >= 10_000) userKeys.clear();
      k = storeUserKey(userId);
      userKeys.set(userId, k);
    }
    return k;
  };
  return {
    prefix,
    partition,
    partitions,
    recordStream: `${prefix}-records${part}`,
    dataStream: `${prefix}-index${part}`,
    indexStream: `${prefix}-index${part}`,
    commandStream: `${prefix}-devcmds${part}`,
    legacyStreams: partition === 0 ? [`${prefix}-data`, `${prefix}-commands`, `${prefix}-delivered`] : [],
    recordSubjects: `${rec}.>`,
    indexSubjects: `${idx}.>`,
    commandSubjects: `${dcmd}.>`,
    record: (userId, collection, key) => `${rec}.${userKeyOf(userId)}.${nameToken(collection)}.${nameToken(key)}`,
    recordVersion: (userId, collection, key, version) => `${rec}.${userKeyOf(userId)}.${nameToken(collection)}.${nameToken(key)}.${version}`,
    keyOf: (subject) => tokenName(subject.split('.', 5)[4] ?? ''),
    userIndex: (userId) => `${idx}.usr.${userKeyOf(userId)}`,
    collectionIndex: (userId, collection) => `${idx}.col.${userKeyOf(userId)}.${nameToken(collection)}`,
    deviceIndex: (userId, deviceId) => `${idx}.dev.${userKeyOf(userId)}.${storeDeviceKey(userId, deviceId)}`,
    command: (userId, deviceId, nonce) => `${dcmd}.${userKeyOf(userId)}.${storeDeviceKey(userId, deviceId)}.${nonce}`,
  };
}

/**
 * Index streams that exist only when the storage under `prefix` was created with another partition count
 * than `partitions`: the unpartitioned `<prefix>-index` and the first partition's `<prefix>-index-0`, or
 * the partition one past the last. A storage node looks for them at start (streams.ts) so that a cluster
 * whose settings were lost (a restore) is not started on empty streams beside its data.
 */
export function otherPartitioningStreams(prefix: string, partitions: number): string[] {
  return partitions === 1 ? [`${prefix}-index-0`] : [`${prefix}-index`, `${prefix}-index-${partitions}`];
}

/** The layouts of every partition of `partitions` under `prefix`, in partition order. */
export function storeLayouts(prefix: string, partitions = 1): StoreLayout[] {
  checkPartitions(partitions);
  return Array.from({ length: partitions }, (_, p) => storeLayout(prefix, p, partitions));
}

/**
 * Finds the partition of a user, hashing each user once while it is among the 10,000 seen last: commits
 * and pulls of one user come in bursts.
 */
export class PartitionOf {
  readonly #partitions: number;
  readonly #seen = new Map<string, number>();

  constructor(partitions: number) {
    checkPartitions(partitions);
    this.#partitions = partitions;
  }

  of(userId: string): number {
    if (this.#partitions === 1) return 0;
    let p = this.#seen.get(userId);
    if (p === undefined) {
      if (this.#seen.size >= 10_000) this.#seen.clear();
      p = partitionOfKey(storeUserKey(userId), this.#partitions);
      this.#seen.set(userId, p);
    }
    return p;
  }
}

const VERSION_PREFIX = randomBytes(8).toString('hex');
let versionCounter = 0;

/**
 * A token unique to one write: this process's random 64-bit prefix and a counter, 17 to 27 characters,
 * subject-safe. It names a record version's subject and an index write's message id (writes.ts): two
 * processes share a prefix with probability 2^-64 per pair.
 */
export function versionToken(): string {
  versionCounter = (versionCounter + 1) % Number.MAX_SAFE_INTEGER;
  return VERSION_PREFIX + versionCounter.toString(36);
}
