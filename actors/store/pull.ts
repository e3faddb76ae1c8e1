/**
 * Pull: every key of a collection changed after a revision, each once, in its latest state.
 *
 * The collection's index (index-codec.ts) lists each key's current revision, sorted by revision, so
 * the keys changed after `since` are the entries after it, each in its latest state. Inline values
 * come from the index itself; the other records are read by sequence, all of a page at once. The cost
 * is the user's own: one cached (or one `last_by_subj`) index read and at most one read per change,
 * whatever other users store (TARGETS.md P8).
 *
 * A page ends at `limit` changes (at most maxPageChanges) or maxPageBytes of values (a page holds at
 * least one change whatever its size); then `more: true`, and `rev` (the last change's revision) is
 * the cursor to pull from next. `rev` never goes backwards for a client: it is `since` or the
 * revision of a change returned, and every key changed at or before it that is not returned has
 * changed again later.
 *
 * A commit landing while a pull reads can delete a version the pull's index named (it was replaced):
 * the pull then starts again from the newer index.
 */
import type { PullResult } from '../messages.js';
import type { StoreContext } from './context.js';
import { StoreUnavailableError } from './errors.js';
import type { CollectionIndex, KeyEntry } from './index-codec.js';
import { ensureKnown } from './devices.js';
import { entryRecords } from './records.js';
import { optionalCount, optionalName, requireName, requireRev } from './validate.js';

/** What pull() reads from a PullRequest. */
export interface PullInput {
  readonly userId: string;
  readonly collection: string;
  readonly since: number;
  readonly limit?: number;
  /** The pulling device: registered first when the store does not know it (devices.ts). */
  readonly deviceId?: string;
}

const ATTEMPTS = 3;

/** Index of the first entry with rev > since (entries are sorted by rev). */
function firstAfter(entries: readonly KeyEntry[], since: number): number {
  let lo = 0;
  let hi = entries.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (entries[mid]!.rev > since) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

function page(index: CollectionIndex, since: number, limit: number, maxBytes: number): { entries: KeyEntry[]; more: boolean } {
  const from = firstAfter(index.entries, since);
  const entries: KeyEntry[] = [];
  let bytes = 0;
  let i = from;
  for (; i < index.entries.length && entries.length < limit && bytes < maxBytes; i++) {
    const e = index.entries[i]!;
    entries.push(e);
    bytes += e.size;
  }
  return { entries, more: i < index.entries.length };
}

export async function pull(ctx: StoreContext, input: PullInput): Promise<PullResult> {
  const { limits, layout } = ctx;
  const userId = requireName('userId', input.userId, limits.maxIdBytes);
  const collection = requireName('collection', input.collection, limits.maxCollectionBytes);
  const since = requireRev('since', input.since);
  const limit = Math.min(optionalCount('limit', input.limit) ?? limits.maxPageChanges, limits.maxPageChanges);
  const deviceId = optionalName('deviceId', input.deviceId, limits.maxIdBytes);
  // Before the read: a commit after it then pushes to this device (devices.ts).
  if (deviceId !== undefined) await ensureKnown(ctx, userId, deviceId);

  return ctx.states.with(userId, async (s) => {
    for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
      // After a miss, the cached index first (a commit of this node replaced it), then what is stored.
      const index = attempt < 2 ? await s.collection(collection) : await s.reloadCollection(collection);
      const { entries, more } = page(index, since, limit, limits.maxPageBytes);
      const changes = await entryRecords(ctx.records, layout, entries);
      if (changes === null) continue;
      return { rev: changes.length > 0 ? changes.at(-1)!.rev : since, changes, more };
    }
    throw new StoreUnavailableError(`the index of collection ${JSON.stringify(collection)} names records that are gone; retry the pull (if it keeps failing, the index needs repair)`);
  });
}
