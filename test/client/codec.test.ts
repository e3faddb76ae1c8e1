/**
 * The client codec against another MessagePack library, in both of its builds: msgpackr's Node build
 * (what Node clients use) and its browser build (what esbuild puts in dist/web), bundled here the way
 * scripts/bundle-client.mjs does it.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { build } from 'esbuild';
import { decode as stdDecode, encode as stdEncode } from '@msgpack/msgpack';
import * as nodeCodec from '../../client/codec.js';

type Codec = Pick<typeof nodeCodec, 'encodeFrame' | 'decodeFrame' | 'toSafeInteger'>;

let dir: string;
let browserCodec: Codec;

beforeAll(async () => {
  dir = await mkdtemp(join(process.cwd(), '.tmp', 'codec-'));
  const outfile = join(dir, 'codec.mjs');
  await build({ entryPoints: ['client/codec.ts'], bundle: true, platform: 'browser', format: 'esm', outfile, logLevel: 'error' });
  browserCodec = (await import(pathToFileURL(outfile).href)) as Codec;
});

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

const builds: Array<[string, () => Codec]> = [
  ['node build', () => nodeCodec],
  ['browser build', () => browserCodec],
];

describe.each(builds)('client codec (%s)', (_name, codec) => {
  it('codec - writes frames another library reads, with no extension types', () => {
    const frame = { t: 'commit', id: 1, collection: 'c', changes: [{ key: 'k', value: { a: [1, 'x', true, null] }, base: 0 }], gone: undefined };
    // @msgpack/msgpack throws on extension types it does not know: decoding proves there are none.
    expect(stdDecode(codec().encodeFrame(frame))).toEqual({ ...frame, gone: null });
  });

  it('codec - reads frames another library writes', () => {
    const frame = { t: 'changes', id: 9, collection: 'c', rev: 12, changes: [{ key: 'k', rev: 12, deleted: true }], more: false };
    expect(codec().decodeFrame(stdEncode(frame))).toEqual(frame);
  });

  it('codec - keeps 64-bit integers intact both ways', () => {
    const big = 2n ** 40n;
    const huge = 2n ** 64n - 1n;
    const bytes = stdEncode({ a: big, b: huge, c: -(2n ** 40n) }, { useBigInt64: true });
    const decoded = codec().decodeFrame(bytes) as Record<string, unknown>;
    expect(decoded.a).toBe(big);
    expect(decoded.b).toBe(huge);
    expect(decoded.c).toBe(-(2n ** 40n));
    const back = stdDecode(codec().encodeFrame(decoded), { useBigInt64: true }) as Record<string, bigint>;
    expect(BigInt(back.a!)).toBe(big);
    expect(BigInt(back.b!)).toBe(huge);
  });

  it('codec - writes binary data as standard bin', () => {
    const bytes = Uint8Array.from([0, 1, 254, 255]);
    const decoded = stdDecode(codec().encodeFrame({ value: bytes })) as { value: Uint8Array };
    expect([...decoded.value]).toEqual([0, 1, 254, 255]);
  });

  it('codec - throws on malformed input', () => {
    expect(() => codec().decodeFrame(Uint8Array.from([0x92, 0x01]))).toThrow();
    expect(() => codec().decodeFrame(Uint8Array.from([0xa5, 0x61]))).toThrow(); // a 5-byte string cut short
  });

  it('codec - toSafeInteger takes numbers and BigInts in the safe range only', () => {
    const { toSafeInteger } = codec();
    expect(toSafeInteger(7)).toBe(7);
    expect(toSafeInteger(7n)).toBe(7);
    expect(toSafeInteger(2n ** 60n)).toBeUndefined();
    expect(toSafeInteger(0.5)).toBeUndefined();
    expect(toSafeInteger('7')).toBeUndefined();
  });
});
