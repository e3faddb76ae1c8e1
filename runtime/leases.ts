/**
 * Activation leases of virtual actors in a JetStream KV bucket (`<prefix>_leases`), fenced with
 * compare-and-set on the key's revision:
 *
 *   absent or deleted  -> create: this node holds it (tried first, before any read: the usual case)
 *   held by this node  -> update(rev): take it over again (a stale lease of ours)
 *   holder is down     -> update(rev): take it over (membership says the holder is gone)
 *   holder is live     -> not acquired: the caller forwards the message to the holder
 *   holder not heard of yet (this node joined less than downAfterMs ago) -> wait until it is heard
 *                         of (live) or that time has passed (gone), then decide
 *
 * Two nodes racing for one key cannot both win: only one create/update at a given revision
 * succeeds, the other re-reads and sees the winner. The value is {node, epoch}. The epoch is the
 * revision of the write that took the lease: revisions of a stream only grow, so every activation of
 * every actor has an epoch of its own, also after its key was removed (it fences snapshot writes).
 * nats-server 2.9 has no per-key TTL, so a lease of a dead node is reclaimed through membership (down
 * after downAfterMs), not by expiry.
 *
 * Releasing (passivation, stop) removes the lease's own message by its revision (key-removal.ts): a
 * takeover made meanwhile survives, and nothing stays behind. (A KV delete would leave a marker per
 * actor ever activated: a bucket, and nats-server memory, growing with every user ever seen.)
 */
import { decode, encode } from './codec.js';
import type { KeyRemoval } from './key-removal.js';
import type { KvRequests } from './kv-requests.js';
import { UnavailableError } from './errors.js';

/** What a lease decision needs to know about a holder (membership.ts). */
export interface HolderLiveness {
  isLive(node: string): boolean;
  /** Undefined when `isLive(node)` can be trusted now; else settles once it can (Membership.heardOf). */
  heardOf(node: string): Promise<void> | undefined;
}

export type LeaseResult = { ok: true; rev: number; epoch: number } | { ok: false; holder: string };

/** The KV key of an actor: `<kind>.<id as unpadded base64url>` (KV keys allow [-/_=.A-Za-z0-9]). */
export function actorKey(kind: string, id: string): string {
  return `${kind}.${id.length === 0 ? '_' : Buffer.from(id, 'utf8').toString('base64url')}`;
}

/** True for JetStream's "wrong last sequence" (a lost compare-and-set race). */
export function isCasConflict(err: unknown): boolean {
  const code = (err as { code?: unknown })?.code;
  return code === 10071 || /wrong last sequence/i.test(String((err as Error)?.message ?? ''));
}

/** A create or update refused because another write holds the key: a lost race, read and decide again. */
function isTaken(err: unknown): boolean {
  return isCasConflict(err) || /exists/i.test(String((err as Error)?.message));
}

/** The holder of a lease entry: its node, and the entry's revision as the epoch. */
function readLease(value: Uint8Array, revision: number): { node: string; epoch: number } | undefined {
  try {
    const v = decode(value) as { node?: unknown };
    return typeof v?.node === 'string' ? { node: v.node, epoch: revision } : undefined;
  } catch {
    return undefined;
  }
}

export class LeaseStore {
  constructor(
    private readonly kv: Pick<KvRequests, 'get' | 'create' | 'update'>,
    private readonly self: string,
    private readonly removal: KeyRemoval,
  ) {}

  async acquire(key: string, liveness: HolderLiveness): Promise<LeaseResult> {
    const value = encode({ node: this.self });
    // Most activations find no lease (a released one is removed, not marked): try to create it first,
    // one write instead of a read and a write, and read only when the key is taken. In a reconnect
    // storm every returning device activates its user's store actor (docs/performance.md, P7).
    try {
      const rev = await this.kv.create(key, value);
      return { ok: true, rev, epoch: rev };
    } catch (err) {
      if (!isTaken(err)) throw err;
    }
    for (let attempt = 0; attempt < 8; attempt++) {
      const e = await this.kv.get(key);
      const held = e && e.operation === 'PUT' ? readLease(e.value, e.revision) : undefined;
      if (held && held.node !== this.self) {
        if (liveness.isLive(held.node)) return { ok: false, holder: held.node };
        const unsure = liveness.heardOf(held.node);
        if (unsure !== undefined) {
          // Not heard of yet: it may be live (this node just joined). Read again once that is known.
          await unsure;
          attempt--;
          continue;
        }
      }
      try {
        const rev = e && e.operation === 'PUT' ? await this.kv.update(key, value, e.revision) : await this.kv.create(key, value);
        return { ok: true, rev, epoch: rev };
      } catch (err) {
        if (!isTaken(err)) throw err;
        // Lost a race: read again and decide again, after a pause that grows: with replicas the read may
        // be answered by a replica that has not applied the winner's write yet (Direct Get).
        await new Promise((r) => setTimeout(r, 2 ** attempt));
      }
    }
    throw new UnavailableError(`could not settle the activation lease ${key}: too much contention; retry`);
  }

  /** Who holds `key` now (undefined: nobody). */
  async holder(key: string): Promise<{ node: string; epoch: number } | undefined> {
    const e = await this.kv.get(key);
    return e && e.operation === 'PUT' ? readLease(e.value, e.revision) : undefined;
  }

  /** Releases a lease we hold at revision `rev`; a lease taken over since is left alone. */
  async release(key: string, rev: number): Promise<void> {
    await this.removal.remove(rev);
  }
}
