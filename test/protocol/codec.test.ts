import { describe, expect, it } from 'vitest';
import { decode as stdDecode, encode as stdEncode } from '@msgpack/msgpack';
import { decode, encode, toSafeInteger } from '../../protocol/mod.js';

describe('codec - standard MessagePack', () => {
  it('codec - writes maps another library reads, with no extension types', () => {
    const value = { t: 'welcome', connectionId: 'abc', nested: [{ a: 1 }, { a: 2 }], absent: undefined };
    const bytes = encode(value);
    // @msgpack/msgpack throws on unknown extension types, so this proves none were written.
    expect(stdDecode(bytes)).toEqual({ t: 'welcome', connectionId: 'abc', nested: [{ a: 1 }, { a: 2 }], absent: null });
  });

  it('codec - reads what another library writes', () => {
    const bytes = stdEncode({ t: 'commit', id: 7, changes: [{ key: 'k', value: { x: [1, 'y', true, null] } }] });
    expect(decode(bytes)).toEqual({ t: 'commit', id: 7, changes: [{ key: 'k', value: { x: [1, 'y', true, null] } }] });
  });

  it('codec - keeps 64-bit integers intact through decode and encode', () => {
    const big = 2n ** 40n;
    const huge = 2n ** 63n + 5n;
    const bytes = stdEncode({ a: big, b: huge, c: -(2n ** 40n) }, { useBigInt64: true });
    const back = stdDecode(encode(decode(bytes)), { useBigInt64: true }) as Record<string, bigint>;
    expect(BigInt(back.a!)).toBe(big);
    expect(BigInt(back.b!)).toBe(huge);
    expect(BigInt(back.c!)).toBe(-(2n ** 40n));
  });

  it('codec - throws on malformed input', () => {
    expect(() => decode(Uint8Array.from([0x01, 0x02]))).toThrow();
    expect(() => decode(Uint8Array.from([0x92, 0x01]))).toThrow();
  });

  it('codec - toSafeInteger accepts numbers and BigInts in the safe range only', () => {
    expect(toSafeInteger(5)).toBe(5);
    expect(toSafeInteger(5n)).toBe(5);
    expect(toSafeInteger(2n ** 60n)).toBeUndefined();
    expect(toSafeInteger(1.5)).toBeUndefined();
    expect(toSafeInteger('5')).toBeUndefined();
  });
});
