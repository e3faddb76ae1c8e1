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

/** Stream names and subjects of one cluster prefix. */
export interface StoreLayout {
  readonly prefix: string;
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

/** The layout under `prefix` (letters, digits, `_`, `-`; it names streams too). */
export function storeLayout(prefix: string): StoreLayout {
  if (!PREFIX.test(prefix)) {
    throw new TypeError(`store prefix ${JSON.stringify(prefix)} must be 1-32 characters of [A-Za-z0-9_-]; it names subjects and streams`);
  }
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
    recordStream: `${prefix}-records`,
    dataStream: `${prefix}-index`,
    indexStream: `${prefix}-index`,
    commandStream: `${prefix}-devcmds`,
    legacyStreams: [`${prefix}-data`, `${prefix}-commands`, `${prefix}-delivered`],
    recordSubjects: `${prefix}.rec.>`,
    indexSubjects: `${prefix}.idx.>`,
    commandSubjects: `${prefix}.dcmd.>`,
    record: (userId, collection, key) => `${prefix}.rec.${userKeyOf(userId)}.${nameToken(collection)}.${nameToken(key)}`,
    recordVersion: (userId, collection, key, version) => `${prefix}.rec.${userKeyOf(userId)}.${nameToken(collection)}.${nameToken(key)}.${version}`,
    keyOf: (subject) => tokenName(subject.split('.', 5)[4] ?? ''),
    userIndex: (userId) => `${prefix}.idx.usr.${userKeyOf(userId)}`,
    collectionIndex: (userId, collection) => `${prefix}.idx.col.${userKeyOf(userId)}.${nameToken(collection)}`,
    deviceIndex: (userId, deviceId) => `${prefix}.idx.dev.${userKeyOf(userId)}.${storeDeviceKey(userId, deviceId)}`,
    command: (userId, deviceId, nonce) => `${prefix}.dcmd.${userKeyOf(userId)}.${storeDeviceKey(userId, deviceId)}.${nonce}`,
  };
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
