/**
 * The mapping from a stored value (a record message, or a value inline in its collection's index) to
 * the record clients see.
 *
 * A record message's payload is its value, MessagePack encoded (protocol/codec.ts, so 64-bit
 * integers come back as BigInt, intact). An empty payload is a tombstone: no MessagePack value
 * encodes to zero bytes, so the marker needs no header and costs nothing to read.
 */
import { decode } from '../../protocol/mod.js';
import type { Record_ } from '../messages.js';
import { StoreUnavailableError } from './errors.js';
import type { StoreLayout } from './layout.js';
import type { StoredMessage, StreamReader } from './reader.js';
import type { InlineValue, KeyEntry } from './index-codec.js';

export const TOMBSTONE = new Uint8Array(0);

/** The record a stored value holds: its key, the revision its index gives it, its encoded value. */
function recordFrom(key: string, rev: number, payload: Uint8Array, where: string): Record_ {
  if (payload.length === 0) return { key, rev, deleted: true };
  let value: unknown;
  try {
    value = decode(payload);
  } catch (err) {
    throw new StoreUnavailableError(`${where} does not hold MessagePack; the stream was written by something else`, { cause: err });
  }
  return { key, rev, value };
}

/** The record a record message holds, at revision `rev` (its index entry's). */
export function recordOf(layout: StoreLayout, m: StoredMessage, rev: number): Record_ {
  return recordFrom(layout.keyOf(m.subject), rev, m.data, `record ${m.subject} (sequence ${m.seq})`);
}

/** The record of an index entry whose value is inline. */
export function inlineRecord(entry: KeyEntry & { inline: InlineValue }): Record_ {
  return recordFrom(entry.inline.key, entry.rev, entry.inline.payload, `the inline value at rev ${entry.rev}`);
}

/**
 * The records of `entries`: inline ones from the index, the others read by sequence, all at once.
 * Null when a record is gone (a commit replaced it meanwhile: read the index again).
 */
export async function entryRecords(reader: StreamReader, layout: StoreLayout, entries: readonly KeyEntry[]): Promise<Record_[] | null> {
  const messages = await Promise.all(entries.map((e) => (e.inline !== undefined ? undefined : reader.at(e.seq))));
  const out: Record_[] = [];
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i]!;
    if (e.inline !== undefined) {
      out.push(inlineRecord({ ...e, inline: e.inline }));
      continue;
    }
    const m = messages[i];
    if (m === null || m === undefined) return null;
    out.push(recordOf(layout, m, e.rev));
  }
  return out;
}
