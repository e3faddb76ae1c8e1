/**
 * Where the cloud storage keeps things in JetStream: stream names, subjects and name encodings.
 *
 * Records (stream `<prefix>-data`, subjects `<prefix>.data.>`, one message kept per subject):
 *
 *   <prefix>.data.<storeUserKey(userId)>.<token(collection)>.<token(key)>
 *
 * Commands (stream `<prefix>-commands`, subjects `<prefix>.cmd.>`, up to maxPendingCommands kept per subject):
 *
 *   <prefix>.cmd.<storeUserKey(userId)>.<storeDeviceKey(userId, deviceId)>
 *
 * Delivered notices (stream `<prefix>-delivered`, subjects `<prefix>.dlv.>`, the newest maxPendingCommands
 * kept per subject), one subject per SENDER device, holding `delivered` until the sender has been sent it:
 *
 *   <prefix>.dlv.<storeUserKey(userId)>.<storeDeviceKey(userId, deviceId)>
 *
 * - `token(name)` is the base64url (no padding) of the name's UTF-8 bytes: reversible, unambiguous and
 *   subject-safe for any string, so collection and key names need no character rules, only lengths.
 * - `storeUserKey` is 128 bits of SHA-256 (32 hex digits), not the 80-bit user key of connection ids
 *   (actors/identity.ts): a push subject collision only costs a message (receivers re-check the user id),
 *   but two users sharing a data namespace would be a leak, so the storage key is long enough that a
 *   collision never happens in practice. `storeDeviceKey` is built the same way from (userId, deviceId).
 * - A user can only name things under their own user key: every subject is built from the userId of
 *   the request, never from client-supplied subject text, and tokens cannot contain `.`, `*` or `>`.
 */
import { createHash } from 'node:crypto';

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
  readonly dataStream: string;
  readonly commandStream: string;
  readonly noticeStream: string;
  /** Subjects the data stream captures. */
  readonly dataSubjects: string;
  /** Subjects the command stream captures. */
  readonly commandSubjects: string;
  /** Subjects the delivered-notice stream captures. */
  readonly noticeSubjects: string;
  /** The subject of one record. */
  record(userId: string, collection: string, key: string): string;
  /** The filter matching every record of a collection. */
  collection(userId: string, collection: string): string;
  /** The key a record subject names (its last token). */
  keyOf(subject: string): string;
  /** The subject of a device's command queue. */
  commands(userId: string, deviceId: string): string;
  /** The subject of a sender device's delivered notices. */
  notices(userId: string, deviceId: string): string;
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
    dataStream: `${prefix}-data`,
    commandStream: `${prefix}-commands`,
    noticeStream: `${prefix}-delivered`,
    dataSubjects: `${prefix}.data.>`,
    commandSubjects: `${prefix}.cmd.>`,
    noticeSubjects: `${prefix}.dlv.>`,
    record: (userId, collection, key) => `${prefix}.data.${userKeyOf(userId)}.${nameToken(collection)}.${nameToken(key)}`,
    collection: (userId, collection) => `${prefix}.data.${userKeyOf(userId)}.${nameToken(collection)}.*`,
    keyOf: (subject) => tokenName(subject.slice(subject.lastIndexOf('.') + 1)),
    commands: (userId, deviceId) => `${prefix}.cmd.${userKeyOf(userId)}.${storeDeviceKey(userId, deviceId)}`,
    notices: (userId, deviceId) => `${prefix}.dlv.${userKeyOf(userId)}.${storeDeviceKey(userId, deviceId)}`,
  };
}
