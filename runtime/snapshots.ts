/**
 * Persisted actor snapshots in a JetStream KV bucket (`<prefix>_snapshots`), same keys as leases.
 *
 * Writes are coalesced per actor: at most one write in flight; messages processed meanwhile only
 * mark the actor dirty, and the next write takes the latest snapshot (latest wins). Writes are
 * compare-and-set on the revision this actor last read or wrote, so a stale activation on a fenced
 * node cannot silently overwrite the state of the new one: on a conflict the writer checks its
 * lease and, if it lost it, stops the actor.
 */
import type { KV } from '@nats-io/kv';
import type { Snapshot } from 'xstate';
import { decode, encode } from './codec.js';
import { CellStatus, type Cell } from './cell.js';
import { isCasConflict } from './leases.js';

export interface SnapshotHooks {
  /** Does this node still hold the lease of `cell` at its epoch? */
  stillOwner(cell: Cell): Promise<boolean>;
  /** The actor lost its lease: stop it here without releasing anything. */
  fenced(cell: Cell): void;
}

export class SnapshotStore {
  constructor(
    private readonly kv: KV,
    private readonly hooks: SnapshotHooks,
  ) {}

  /** Reads the snapshot of `cell` (sets cell.snapRev). */
  async load(cell: Cell): Promise<Snapshot<unknown> | undefined> {
    const e = await this.kv.get(cell.key);
    if (!e || e.operation !== 'PUT') {
      cell.snapRev = e?.revision ?? 0;
      return undefined;
    }
    cell.snapRev = e.revision;
    try {
      return decode(e.value) as Snapshot<unknown>;
    } catch (err) {
      cell.logger.error({ err }, 'stored snapshot is not MessagePack; starting from the initial state');
      return undefined;
    }
  }

  /** A message was processed: write the latest snapshot soon (coalesced). */
  schedule(cell: Cell): void {
    if (cell.persisting !== 0) {
      cell.persisting = 2;
      return;
    }
    cell.persisting = 1;
    void this.write(cell);
  }

  /** Resolves once no write is in flight for `cell` (after writing the latest state if dirty). */
  flush(cell: Cell): Promise<void> {
    if (cell.persisting === 0) return Promise.resolve();
    return new Promise((resolve) => (cell.persistWaiters ??= []).push(resolve));
  }

  private async write(cell: Cell): Promise<void> {
    for (;;) {
      const snapshot = cell.persistedSnapshot();
      if (snapshot !== undefined) {
        try {
          await this.put(cell, encode(snapshot));
        } catch (err) {
          cell.logger.error({ err }, 'snapshot write failed; the next processed message retries');
        }
      }
      if (cell.persisting === 2 && cell.actor !== undefined && cell.status !== CellStatus.stopped) {
        cell.persisting = 1;
        continue;
      }
      break;
    }
    cell.persisting = 0;
    const waiters = cell.persistWaiters;
    cell.persistWaiters = null;
    if (waiters) for (const w of waiters) w();
  }

  private async put(cell: Cell, bytes: Uint8Array): Promise<void> {
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        cell.snapRev = cell.snapRev === 0 ? await this.kv.create(cell.key, bytes) : await this.kv.update(cell.key, bytes, cell.snapRev);
        return;
      } catch (err) {
        if (!isCasConflict(err) && !/exists/i.test(String((err as Error)?.message))) throw err;
        if (!(await this.hooks.stillOwner(cell))) {
          cell.logger.warn('snapshot write lost to another activation: this node no longer holds the lease; stopping the actor here');
          this.hooks.fenced(cell);
          return;
        }
        const e = await this.kv.get(cell.key);
        cell.snapRev = e?.revision ?? 0;
      }
    }
  }
}
