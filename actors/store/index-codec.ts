/**
 * The three index documents of the storage and their encodings (MessagePack maps, version `v: 1`).
 * Where they live: layout.ts; how they are written: index-writer.ts.
 *
 * - Collection index: which version (revision) of each key is current, and its size.
 *   `{v, rev, e: <entries>, tx: [[txid, rev, conflictKeys]]}` where `e` is a byte string of 28-byte
 *   entries sorted by revision: 16 bytes of SHA-256 of the key name, the revision (uint64), the
 *   value's encoded size (uint32; 0 is a tombstone: no MessagePack value encodes to zero bytes).
 *   The key name itself is in the record's subject, so the index stays small (10k keys: 280 KB) and
 *   a pull since R is "the entries after R", read by sequence.
 * - User index: `{v, cols: [collection names], devs: [device ids]}`, for the collections and devices quotas.
 * - Device index: `{v, cmds: [[seq, nonce]], dlv: [[no, commandId]], dlvNo}`: the device's pending
 *   commands, oldest first, and the delivered notices it has not yet been sent (as a sender).
 *
 * Every document carries `seq`, the index stream sequence it was read at (0: never written): the next
 * write of it must expect that sequence.
 */
import { createHash } from 'node:crypto';
import { decode, encode, toSafeInteger } from '../../protocol/mod.js';
import { StoreUnavailableError } from './errors.js';

const ENTRY_BYTES = 28;
const HASH_BYTES = 16;

/** The current version of one key. */
export interface KeyEntry {
  /** base64url of the first 16 bytes of SHA-256 of the key name. */
  readonly hash: string;
  readonly rev: number;
  /** Encoded value size; 0 for a tombstone. */
  readonly size: number;
}

/** A commit remembered by its txid: its revision and the keys that conflicted. */
export interface TxRecord {
  readonly txid: string;
  readonly rev: number;
  readonly conflicts: readonly string[];
}

export interface CollectionIndex {
  readonly seq: number;
  /** Highest revision of the collection (0: empty). */
  readonly rev: number;
  /** Sum of the entries' sizes. */
  readonly bytes: number;
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

/** The index hash of a key name. */
export function keyHash(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest().subarray(0, HASH_BYTES).toString('base64url');
}

export function collectionIndex(seq: number, rev: number, entries: readonly KeyEntry[], txids: readonly TxRecord[]): CollectionIndex {
  let bytes = 0;
  const byHash = new Map<string, KeyEntry>();
  for (const e of entries) {
    bytes += e.size;
    byHash.set(e.hash, e);
  }
  return { seq, rev, bytes, entries, byHash, txids };
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
  if (v === null || typeof v !== 'object' || (v as { v?: unknown }).v !== 1) corrupt(what);
  return v as Record<string, unknown>;
}

function int(what: string, v: unknown): number {
  const n = toSafeInteger(v);
  if (n === undefined || n < 0) corrupt(what);
  return n;
}

export function encodeCollection(c: Omit<CollectionIndex, 'seq' | 'byHash' | 'bytes'>): Uint8Array {
  const e = Buffer.alloc(c.entries.length * ENTRY_BYTES);
  c.entries.forEach((entry, i) => {
    const at = i * ENTRY_BYTES;
    Buffer.from(entry.hash, 'base64url').copy(e, at);
    e.writeBigUInt64BE(BigInt(entry.rev), at + HASH_BYTES);
    e.writeUInt32BE(entry.size, at + HASH_BYTES + 8);
  });
  return encode({ v: 1, rev: c.rev, e: new Uint8Array(e.buffer, e.byteOffset, e.length), tx: c.txids.map((t) => [t.txid, t.rev, t.conflicts]) });
}

export function decodeCollection(seq: number, data: Uint8Array): CollectionIndex {
  const m = decodeMap('collection', data);
  const raw = m['e'];
  if (!(raw instanceof Uint8Array) || raw.length % ENTRY_BYTES !== 0) corrupt('collection');
  const b = Buffer.from(raw.buffer, raw.byteOffset, raw.length);
  const entries: KeyEntry[] = [];
  for (let at = 0; at < b.length; at += ENTRY_BYTES) {
    entries.push({
      hash: b.subarray(at, at + HASH_BYTES).toString('base64url'),
      rev: Number(b.readBigUInt64BE(at + HASH_BYTES)),
      size: b.readUInt32BE(at + HASH_BYTES + 8),
    });
  }
  const tx = Array.isArray(m['tx']) ? (m['tx'] as unknown[]) : corrupt('collection');
  const txids = tx.map((t): TxRecord => {
    if (!Array.isArray(t) || typeof t[0] !== 'string' || !Array.isArray(t[2])) corrupt('collection');
    return { txid: t[0], rev: int('collection', t[1]), conflicts: (t[2] as unknown[]).filter((k): k is string => typeof k === 'string') };
  });
  return collectionIndex(seq, int('collection', m['rev']), entries, txids);
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
