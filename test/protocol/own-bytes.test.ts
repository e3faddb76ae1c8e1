/**
 * ownBytes (protocol/codec.ts): bytes kept after their message is handled (the storage's cached inline
 * values) must own their memory. encode() answers a view into the encoder's shared buffer, a decoded
 * byte string is a view into the message, and Buffer#slice is a view as well: each keeps a whole buffer
 * alive for as long as the bytes are kept.
 */
import { describe, expect, it } from 'vitest';
import { decode, encode, ownBytes } from '../../protocol/mod.js';

describe('ownBytes', () => {
  it('copies an encoded value into memory of its own, unchanged', () => {
    const encoded = encode({ v: 5 });
    expect(encoded.buffer.byteLength).toBeGreaterThan(encoded.length); // a view into the encoder's buffer
    expect(Buffer.isBuffer(encoded) && encoded.slice().buffer === encoded.buffer).toBe(true); // slice is no copy
    const own = ownBytes(encoded);
    expect(own.buffer.byteLength).toBe(encoded.length);
    expect(own.byteOffset).toBe(0);
    expect([...own]).toEqual([...encoded]);
    expect(decode(own)).toEqual({ v: 5 });
  });

  it('copies a decoded byte string out of its message, and the empty value too', () => {
    const message = encode({ pad: 'x'.repeat(500), bytes: new Uint8Array([1, 2, 3]) });
    const { bytes } = decode(message) as { bytes: Uint8Array };
    const own = ownBytes(bytes);
    expect(own.buffer.byteLength).toBe(3);
    expect([...own]).toEqual([1, 2, 3]);
    expect(ownBytes(new Uint8Array(0)).length).toBe(0);
  });
});
