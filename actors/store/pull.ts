/**
 * Pull: every key of a collection changed after a revision, each once, in its latest state.
 *
 * Because the data stream keeps one message per key, the messages of a collection with sequence
 * > `since` are exactly the keys changed after `since`, each in its latest state. They are read
 * one at a time with "first message matching the collection's filter at or after sequence S" until
 * there is none; nats-server 2.9 has no batch read, and an ephemeral consumer costs more than the
 * reads it saves for the small pulls that follow a `sync` (measured: see actors/store/README.md).
 *
 * Cost: nats-server 2.9 answers a wildcard read by scanning the stream from S, so a pull costs
 * about one pass over the stream's messages written after `since` (all users' messages), plus one
 * read per change. The pull after a `sync` has a recent cursor and is cheap; a first pull (since 0)
 * scans the whole stream. (Reading the collection's last revision first would let the pull stop
 * early, but that read costs a walk over every subject of the stream's last block on 2.9: more than
 * the scan it saves for the common pull.)
 *
 * A page ends at `limit` changes (at most maxPageChanges) or maxPageBytes of values; then
 * `more: true`, and `rev` (the last change's revision) is the cursor to pull from next (the next
 * page may be empty). `rev` never goes backwards for a client: it is `since` or the revision of a
 * change returned, and every key changed at or before it that is not returned has changed again later.
 */
import type { PullResult, Record_ } from '../messages.js';
import { recordOf, type DataContext } from './records.js';
import { optionalCount, requireName, requireRev } from './validate.js';

/** What pull() reads from a PullRequest. */
export interface PullInput {
  readonly userId: string;
  readonly collection: string;
  readonly since: number;
  readonly limit?: number;
}

export async function pull(ctx: DataContext, input: PullInput): Promise<PullResult> {
  const { limits, layout, reader } = ctx;
  const userId = requireName('userId', input.userId, limits.maxIdBytes);
  const collection = requireName('collection', input.collection, limits.maxCollectionBytes);
  const since = requireRev('since', input.since);
  const limit = Math.min(optionalCount('limit', input.limit) ?? limits.maxPageChanges, limits.maxPageChanges);
  const filter = layout.collection(userId, collection);

  const changes: Record_[] = [];
  let cursor = since;
  let bytes = 0;
  while (changes.length < limit && bytes < limits.maxPageBytes) {
    const m = await reader.next(filter, cursor + 1);
    if (!m) return { rev: cursor, changes, more: false };
    changes.push(recordOf(layout, m));
    cursor = m.seq;
    bytes += m.data.length;
  }
  return { rev: cursor, changes, more: true };
}
