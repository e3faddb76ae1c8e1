/**
 * The three index documents of the storage and their encodings (MessagePack maps).
 * Where they live: layout.ts; how they are written: writes.ts.
 *
 * - Collection index: the current version of each key, its revision and its size.
 *   `{v: 2, rev, e: <entries>, in: [[rev, key, value]], tx: <txids>, txc: [[i, conflictKeys]]}` where `e` is
 *   a byte string of 36-byte entries sorted by revision: 16 bytes of SHA-256 of the key name, the
 *   revision (uint64), the record stream sequence holding the value (uint64; 0: the value is inline),
 *   the value's encoded size (uint32; 0 is a tombstone: no MessagePack value encodes to zero bytes).
 *   `in` holds the key name and encoded value of each inline entry, by revision: small values of small
 *   collections live in the index itself, so such a commit is one JetStream write (README.md "Inline
 *   values"). An external entry's key name is in its record's subject, so the index of a large
 *   collection stays small (10k keys: 360 KB) and a pull since R is "the entries after R", read by
 *   sequence.
 *   `tx` is a byte string of 16-byte txid records, oldest first: 8 bytes of SHA-256 of the txid and the
 *   commit's revision (uint64); `txc` lists, by position in `tx`, the keys that conflicted in those
 *   commits that had conflicts (most have none). The window of 64 txids is 1 KiB, a third of what the
 *   strings took: every commit rewrites it, and nats-server's cost of a compare-and-set write grows with
 *   the size of the message it replaces (README.md "Inline values").
 *   Revisions count per collection: a commit's changes take the next ones after the collection's `rev`.
 *   Version 1 (revision = record sequence, nothing inline) is read as such.
 * - User index: `{v, cols: [collection names], devs: [device ids]}`, for the collections and devices quotas.
 * - Device index: `{v, cmds: [[seq, nonce]], dlv: [[no, commandId]], dlvNo}`: the device's pending
 *   commands, oldest first, and the delivered notices it has not yet been sent (as a sender).
 *
 * Every document carries `seq`, the index stream sequence it was read at (0: never written): the next
 * write of it must expect that sequence.
 */
import { createHash } from 'node:crypto';
import { decode, encode, ownBytes, ownString, toSafeInteger } from '../../protocol/mod.js';
import { StoreUnavailableError } from './errors.js';

const V1_ENTRY_BYTES = 28;
const ENTRY_BYTES = 36;
const HASH_BYTES = 16;

/** A value kept in the index itself: the key name and the encoded value (empty: a tombstone). */
export interface InlineValue {
  readonly key: string;
  readonly payload: Uint8Array;
}

/** The current version of one key. */
export interface KeyEntry {
  /** base64url of the first 16 bytes of SHA-256 of the key name. */
  readonly hash: string;
  /** The key's revision: what clients see, counted per collection. */
  readonly rev: number;
  /** Record stream sequence of the value; 0 when the value is inline. */
  readonly seq: number;
  /** Encoded value size; 0 for a tombstone. */
  readonly size: number;
  /** The key and value, when kept in the index (seq 0). */
  readonly inline?: InlineValue;
}

/** Index bytes an inline value takes (its key and value): what the inline budget counts. */
export function inlineCost(v: InlineValue): number {
  return Buffer.byteLength(v.key, 'utf8') + v.payload.length;
}

/** A commit remembered by its txid: its revision and the keys that conflicted. */
export interface TxRecord {
  /** {@link txidHash} of the commit's txid. */
  readonly hash: string;
  readonly rev: number;
  readonly conflicts: readonly string[];
}

export interface CollectionIndex {
  readonly seq: number;
  /** Highest revision of the collection (0: empty). */
  readonly rev: number;
  /** Sum of the entries' sizes. */
  readonly bytes: number;
  /** Sum of the inline entries' {@link inlineCost}. */
  readonly inlineBytes: number;
  /** Entries sorted by revision. */
  readonly entries: readonly KeyEntry[];
  readonly byHash: ReadonlyMap<string, KeyEntry>;
  readonly txids: readonly TxRecord[];
}

export interface UserIndex {
  readonly seq: number;
  readonly collections: readonly string[];
  readonly devices: readonly string[];
}

export interface PendingRef {
  readonly seq: number;
  readonly nonce: string;
}

export interface Notice {
  readonly no: number;
  readonly commandId: string;
}

export interface DeviceIndex {
  readonly seq: number;
  readonly commands: readonly PendingRef[];
  readonly notices: readonly Notice[];
  /** Number of the last notice ever added (notices are numbered 1, 2, ...). */
  readonly noticeNo: number;
}

const TXID_HASH_BYTES = 8;
const TX_BYTES = TXID_HASH_BYTES + 8;

/** What a collection index keeps of a txid: 8 bytes of its SHA-256 (a window of 64 never collides in practice). */
export function txidHash(txid: string): string {
  return createHash('sha256').update(txid, 'utf8').digest().subarray(0, TXID_HASH_BYTES).toString('base64url');
}

/** The index hash of a key name. */
export function keyHash(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest().subarray(0, HASH_BYTES).toString('base64url');
}

export function collectionIndex(seq: number, rev: number, entries: readonly KeyEntry[], txids: readonly TxRecord[]): CollectionIndex {
  let bytes = 0;
  let inlineBytes = 0;
  const byHash = new Map<string, KeyEntry>();
  for (const e of entries) {
    bytes += e.size;
    if (e.inline !== undefined) inlineBytes += inlineCost(e.inline);
    byHash.set(e.hash, e);
  }
  return { seq, rev, bytes, inlineBytes, entries, byHash, txids };
}

export const EMPTY_USER: UserIndex = { seq: 0, collections: [], devices: [] };
export const EMPTY_DEVICE: DeviceIndex = { seq: 0, commands: [], notices: [], noticeNo: 0 };
export const EMPTY_COLLECTION: CollectionIndex = collectionIndex(0, 0, [], []);

function corrupt(what: string, cause?: unknown): never {
  throw new StoreUnavailableError(`the ${what} index does not hold what this storage writes (${String(cause ?? 'bad shape')}); was the index stream written by something else?`, { cause });
}

function decodeMap(what: string, data: Uint8Array): Record<string, unknown> {
  let v: unknown;
  try {
    v = decode(data);
  } catch (err) {
    corrupt(what, err);
  }
  const version = v === null || typeof v !== 'object' ? undefined : (v as { v?: unknown }).v;
  if (version !== 1 && !(what === 'collection' && version === 2)) corrupt(what);
  return v as Record<string, unknown>;
}

function int(what: string, v: unknown): number {
  const n = toSafeInteger(v);
  if (n === undefined || n < 0) corrupt(what);
  return n;
}

export function encodeCollection(c: Omit<CollectionIndex, 'seq' | 'byHash' | 'bytes' | 'inlineBytes'>): Uint8Array {
  const e = Buffer.alloc(c.entries.length * ENTRY_BYTES);
  const inline: [number, string, Uint8Array][] = [];
  c.entries.forEach((entry, i) => {
    const at = i * ENTRY_BYTES;
    Buffer.from(entry.hash, 'base64url').copy(e, at);
    e.writeBigUInt64BE(BigInt(entry.rev), at + HASH_BYTES);
    e.writeBigUInt64BE(BigInt(entry.seq), at + HASH_BYTES + 8);
    e.writeUInt32BE(entry.size, at + HASH_BYTES + 16);
    if (entry.inline !== undefined) inline.push([entry.rev, entry.inline.key, entry.inline.payload]);
  });
  const tx = Buffer.alloc(c.txids.length * TX_BYTES);
  const txc: [number, readonly string[]][] = [];
  c.txids.forEach((t, i) => {
    Buffer.from(t.hash, 'base64url').copy(tx, i * TX_BYTES);
    tx.writeBigUInt64BE(BigInt(t.rev), i * TX_BYTES + TXID_HASH_BYTES);
    if (t.conflicts.length > 0) txc.push([i, t.conflicts]);
  });
  return encode({
    v: 2,
    rev: c.rev,
    e: new Uint8Array(e.buffer, e.byteOffset, e.length),
    in: inline,
    tx: new Uint8Array(tx.buffer, tx.byteOffset, tx.length),
    txc,
  });
}

function keyList(v: unknown): string[] {
  return Array.isArray(v) ? v.filter((k): k is string => typeof k === 'string').map(ownString) : corrupt('collection');
}

function decodeTxids(m: Record<string, unknown>): TxRecord[] {
  const tx = m['tx'];
  if (Array.isArray(tx)) {
    // Version 1: [[txid, rev, conflictKeys]].
    return tx.map((t): TxRecord => {
      if (!Array.isArray(t) || typeof t[0] !== 'string') corrupt('collection');
      return { hash: txidHash(t[0]), rev: int('collection', t[1]), conflicts: keyList(t[2]) };
    });
  }
  if (!(tx instanceof Uint8Array) || tx.length % TX_BYTES !== 0) corrupt('collection');
  const conflicts = new Map<number, string[]>();
  const txc = m['txc'] === undefined ? [] : Array.isArray(m['txc']) ? (m['txc'] as unknown[]) : corrupt('collection');
  for (const item of txc) {
    if (!Array.isArray(item)) corrupt('collection');
    conflicts.set(int('collection', item[0]), keyList(item[1]));
  }
  const b = Buffer.from(tx.buffer, tx.byteOffset, tx.length);
  const out: TxRecord[] = [];
  for (let at = 0, i = 0; at < b.length; at += TX_BYTES, i++) {
    out.push({ hash: b.subarray(at, at + TXID_HASH_BYTES).toString('base64url'), rev: Number(b.readBigUInt64BE(at + TXID_HASH_BYTES)), conflicts: conflicts.get(i) ?? [] });
  }
  return out;
}

/** The inline values of a version 2 index by revision, as own copies (protocol ownBytes). */
function decodeInline(raw: unknown): Map<number, InlineValue> {
  const list = raw === undefined ? [] : Array.isArray(raw) ? (raw as unknown[]) : corrupt('collection');
  const byRev = new Map<number, InlineValue>();
  for (const item of list) {
    if (!Array.isArray(item) || typeof item[1] !== 'string' || !(item[2] instanceof Uint8Array)) corrupt('collection');
    byRev.set(int('collection', item[0]), { key: ownString(item[1]), payload: ownBytes(item[2] as Uint8Array) });
  }
  return byRev;
}

function decodeEntries(m: Record<string, unknown>): KeyEntry[] {
  const v2 = m['v'] === 2;
  const size = v2 ? ENTRY_BYTES : V1_ENTRY_BYTES;
  const raw = m['e'];
  if (!(raw instanceof Uint8Array) || raw.length % size !== 0) corrupt('collection');
  const inline = v2 ? decodeInline(m['in']) : new Map<number, InlineValue>();
  const b = Buffer.from(raw.buffer, raw.byteOffset, raw.length);
  const entries: KeyEntry[] = [];
  for (let at = 0; at < b.length; at += size) {
    const hash = b.subarray(at, at + HASH_BYTES).toString('base64url');
    const rev = Number(b.readBigUInt64BE(at + HASH_BYTES));
    if (!v2) {
      // Version 1: the revision is the record's sequence.
      entries.push({ hash, rev, seq: rev, size: b.readUInt32BE(at + HASH_BYTES + 8) });
      continue;
    }
    const seq = Number(b.readBigUInt64BE(at + HASH_BYTES + 8));
    const entrySize = b.readUInt32BE(at + HASH_BYTES + 16);
    if (seq !== 0) {
      entries.push({ hash, rev, seq, size: entrySize });
      continue;
    }
    const value = inline.get(rev);
    if (value === undefined || value.payload.length !== entrySize) corrupt('collection', `entry at rev ${rev} has no inline value`);
    entries.push({ hash, rev, seq, size: entrySize, inline: value });
  }
  return entries;
}

export function decodeCollection(seq: number, data: Uint8Array): CollectionIndex {
  const m = decodeMap('collection', data);
  const entries = decodeEntries(m);
  return collectionIndex(seq, int('collection', m['rev']), entries, decodeTxids(m));
}

export function encodeUser(u: Omit<UserIndex, 'seq'>): Uint8Array {
  return encode({ v: 1, cols: u.collections, devs: u.devices });
}

export function decodeUser(seq: number, data: Uint8Array): UserIndex {
  const m = decodeMap('user', data);
  const strings = (v: unknown): string[] => (Array.isArray(v) && v.every((s) => typeof s === 'string') ? (v as string[]) : corrupt('user'));
  return { seq, collections: strings(m['cols']), devices: strings(m['devs']) };
}

export function encodeDevice(d: Omit<DeviceIndex, 'seq'>): Uint8Array {
  return encode({ v: 1, cmds: d.commands.map((c) => [c.seq, c.nonce]), dlv: d.notices.map((n) => [n.no, n.commandId]), dlvNo: d.noticeNo });
}

export function decodeDevice(seq: number, data: Uint8Array): DeviceIndex {
  const m = decodeMap('device', data);
  const pairs = (v: unknown): [unknown, unknown][] => (Array.isArray(v) && v.every((p) => Array.isArray(p) && p.length === 2) ? (v as [unknown, unknown][]) : corrupt('device'));
  const str = (v: unknown): string => (typeof v === 'string' ? v : corrupt('device'));
  return {
    seq,
    commands: pairs(m['cmds']).map(([s, n]) => ({ seq: int('device', s), nonce: str(n) })),
    notices: pairs(m['dlv']).map(([no, id]) => ({ no: int('device', no), commandId: str(id) })),
    noticeNo: int('device', m['dlvNo']),
  };
}
