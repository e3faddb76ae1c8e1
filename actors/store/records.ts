/**
 * The mapping from a stored record message to the record clients see.
 *
 * A record message's payload is its value, MessagePack encoded (protocol/codec.ts, so 64-bit
 * integers come back as BigInt, intact). An empty payload is a tombstone: no MessagePack value
 * encodes to zero bytes, so the marker needs no header and costs nothing to read.
 */
import { decode } from '../../protocol/mod.js';
import type { Record_ } from '../messages.js';
import { StoreUnavailableError } from './errors.js';
import type { StoreLayout } from './layout.js';
import type { StoredMessage } from './reader.js';

export const TOMBSTONE = new Uint8Array(0);

/** The record a data message holds. */
export function recordOf(layout: StoreLayout, m: StoredMessage): Record_ {
  const key = layout.keyOf(m.subject);
  if (m.data.length === 0) return { key, rev: m.seq, deleted: true };
  let value: unknown;
  try {
    value = decode(m.data);
  } catch (err) {
    throw new StoreUnavailableError(`record ${m.subject} at rev ${m.seq} does not hold MessagePack; the stream was written by something else`, { cause: err });
  }
  return { key, rev: m.seq, value };
}
