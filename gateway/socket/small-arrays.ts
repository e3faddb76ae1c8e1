/**
 * Arrays of exactly their length, for the small per-user lists a socket node keeps per connection
 * (hub.ts, connection-counts.ts). V8 gives an array grown by `push` or built by `filter` room for 16
 * more elements: about 190 B for a list of two, against 72 B at its exact size (TARGETS P4 counts it).
 * The lists are replaced, never grown in place.
 */

/** `list` and `item` after it, in a new array of exactly that length. */
export function appended<T>(list: readonly T[], item: T): T[] {
  return list.concat([item]);
}

/** The items of `list` that `keep` accepts, in a new array of exactly that length; `list` itself when it keeps them all. */
export function kept<T>(list: T[], keep: (item: T) => boolean): T[] {
  let n = 0;
  for (const x of list) if (keep(x)) n++;
  if (n === list.length) return list;
  const out = new Array<T>(n);
  let k = 0;
  for (const x of list) if (keep(x)) out[k++] = x;
  return out;
}
