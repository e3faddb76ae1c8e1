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
import type { StreamReader } from './reader.js';
import type { KeyEntry } from './index-codec.js';

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

/**
 * The records of `entries`: inline ones from the index, the others read by sequence, all at once.
 * Null when a record is gone (a commit replaced it meanwhile: read the index again).
 */
export async function entryRecords(reader: StreamReader, layout: StoreLayout, entries: readonly KeyEntry[]): Promise<Record_[] | null> {
  const messages = await Promise.all(entries.map((e) => (e.inline === undefined ? reader.at(e.seq) : null)));
  const out: Record_[] = [];
  for (const [i, e] of entries.entries()) {
    if (e.inline !== undefined) {
      out.push(recordFrom(e.inline.key, e.rev, e.inline.payload, `the inline value at rev ${e.rev}`));
      continue;
    }
    const m = messages[i];
    if (!m) return null;
    out.push(recordFrom(layout.keyOf(m.subject), e.rev, m.data, `record ${m.subject} (sequence ${m.seq})`));
  }
  return out;
}
