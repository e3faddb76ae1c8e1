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

/** Per-actor write state, owned here (the cell never sees it). */
class Writes {
  /** KV revision of the last read or write (0: no entry). */
  rev = 0;
  /** 0 idle, 1 writing, 2 writing and another write wanted. */
  state: 0 | 1 | 2 = 0;
  waiters: (() => void)[] | null = null;
}

export class SnapshotStore {
  private readonly writes = new WeakMap<Cell, Writes>();

  constructor(
    private readonly kv: KV,
    private readonly hooks: SnapshotHooks,
  ) {}

  private of(cell: Cell): Writes {
    let w = this.writes.get(cell);
    if (w === undefined) this.writes.set(cell, (w = new Writes()));
    return w;
  }

  /** Reads the snapshot of `cell` (the revision it read fences its next write). */
  async load(cell: Cell): Promise<Snapshot<unknown> | undefined> {
    const e = await this.kv.get(cell.key);
    const w = this.of(cell);
    if (!e || e.operation !== 'PUT') {
      w.rev = e?.revision ?? 0;
      return undefined;
    }
    w.rev = e.revision;
    try {
      return decode(e.value) as Snapshot<unknown>;
    } catch (err) {
      cell.logger.error({ err }, 'stored snapshot is not MessagePack; starting from the initial state');
      return undefined;
    }
  }

  /** A message was processed: write the latest snapshot soon (coalesced). Nothing once the lease is lost. */
  schedule(cell: Cell): void {
    if (cell.life.leaseLost) return;
    const w = this.of(cell);
    if (w.state !== 0) {
      w.state = 2;
      return;
    }
    w.state = 1;
    void this.write(cell, w);
  }

  /** The stop's last write: the latest state, then resolves once no write is in flight. */
  async final(cell: Cell): Promise<void> {
    const w = this.of(cell);
    if (cell.actor !== undefined && w.state === 0) this.schedule(cell);
    if (w.state === 0) return;
    await new Promise<void>((resolve) => (w.waiters ??= []).push(resolve));
  }

  private async write(cell: Cell, w: Writes): Promise<void> {
    for (;;) {
      const snapshot = cell.persistedSnapshot();
      if (snapshot !== undefined) {
        try {
          await this.put(cell, w, encode(snapshot));
        } catch (err) {
          cell.logger.error({ err }, 'snapshot write failed; the next processed message retries');
        }
      }
      if (w.state === 2 && cell.actor !== undefined && !cell.life.leaseLost && cell.status !== CellStatus.stopped) {
        w.state = 1;
        continue;
      }
      break;
    }
    w.state = 0;
    const waiters = w.waiters;
    w.waiters = null;
    if (waiters) for (const f of waiters) f();
  }

  private async put(cell: Cell, w: Writes, bytes: Uint8Array): Promise<void> {
    for (let attempt = 0; attempt < 3; attempt++) {
      if (cell.life.leaseLost) return;
      try {
        w.rev = w.rev === 0 ? await this.kv.create(cell.key, bytes) : await this.kv.update(cell.key, bytes, w.rev);
        return;
      } catch (err) {
        if (!isCasConflict(err) && !/exists/i.test(String((err as Error)?.message))) throw err;
        if (!(await this.hooks.stillOwner(cell))) {
          cell.logger.warn('snapshot write lost to another activation: this node no longer holds the lease; stopping the actor here');
          this.hooks.fenced(cell);
          return;
        }
        const e = await this.kv.get(cell.key);
        w.rev = e?.revision ?? 0;
      }
    }
  }
}
