import { describe, expect, it } from 'vitest';
import { appended, kept } from '../../gateway/socket/small-arrays.js';

describe('small arrays (per-user lists of a socket node)', () => {
  it('appends into a new array and leaves the old one as it was', () => {
    const a = [1, 2];
    const b = appended(a, 3);
    expect(b).toEqual([1, 2, 3]);
    expect(a).toEqual([1, 2]);
    expect(appended([], 'x')).toEqual(['x']);
  });

  it('keeps what the predicate accepts, in order; the same array when it keeps everything', () => {
    const a = [1, 2, 3, 4];
    expect(kept(a, (x) => x % 2 === 0)).toEqual([2, 4]);
    expect(kept(a, () => false)).toEqual([]);
    expect(kept(a, () => true)).toBe(a);
    expect(a).toEqual([1, 2, 3, 4]);
  });
});
