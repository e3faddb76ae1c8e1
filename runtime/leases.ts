/**
 * Activation leases of virtual actors in a JetStream KV bucket (`<prefix>_leases`), fenced with
 * compare-and-set on the key's revision:
 *
 *   absent or deleted  -> create: this node holds it
 *   held by this node  -> update(rev): take it over again (a stale lease of ours)
 *   holder is down     -> update(rev): take it over (membership says the holder is gone)
 *   holder is live     -> not acquired: the caller forwards the message to the holder
 *
 * Two nodes racing for one key cannot both win: only one create/update at a given revision
 * succeeds, the other re-reads and sees the winner. The value is {node, epoch}; the epoch grows on
 * every takeover and fences snapshot writes. nats-server 2.9 has no per-key TTL, so a lease of a
 * dead node is reclaimed through membership (down after downAfterMs), not by expiry.
 */
import type { KV } from '@nats-io/kv';
import { decode, encode, toSafeInteger } from './codec.js';
import { UnavailableError } from './errors.js';

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

function readLease(value: Uint8Array): { node: string; epoch: number } | undefined {
  try {
    const v = decode(value) as { node?: unknown; epoch?: unknown };
    const epoch = toSafeInteger(v?.epoch);
    return typeof v?.node === 'string' && epoch !== undefined ? { node: v.node, epoch } : undefined;
  } catch {
    return undefined;
  }
}

export class LeaseStore {
  constructor(
    private readonly kv: KV,
    private readonly self: string,
  ) {}

  async acquire(key: string, isLive: (node: string) => boolean): Promise<LeaseResult> {
    for (let attempt = 0; attempt < 8; attempt++) {
      const e = await this.kv.get(key);
      const held = e && e.operation === 'PUT' ? readLease(e.value) : undefined;
      if (held && held.node !== this.self && isLive(held.node)) return { ok: false, holder: held.node };
      const epoch = (held?.epoch ?? e?.revision ?? 0) + 1;
      const value = encode({ node: this.self, epoch });
      try {
        const rev = e && e.operation === 'PUT' ? await this.kv.update(key, value, e.revision) : await this.kv.create(key, value);
        return { ok: true, rev, epoch };
      } catch (err) {
        if (!isCasConflict(err) && !/exists/i.test(String((err as Error)?.message))) throw err;
        // Lost a race: read again and decide again.
      }
    }
    throw new UnavailableError(`could not settle the activation lease ${key}: too much contention; retry`);
  }

  /** Who holds `key` now (undefined: nobody). */
  async holder(key: string): Promise<{ node: string; epoch: number } | undefined> {
    const e = await this.kv.get(key);
    return e && e.operation === 'PUT' ? readLease(e.value) : undefined;
  }

  /** Releases a lease we hold at revision `rev`; a lease taken over since is left alone. */
  async release(key: string, rev: number): Promise<void> {
    try {
      await this.kv.delete(key, { previousSeq: rev });
    } catch (err) {
      if (!isCasConflict(err)) throw err;
    }
  }
}
