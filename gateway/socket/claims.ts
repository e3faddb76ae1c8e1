/**
 * The socket node's side of the session fence (fence.ts): claiming a connection id for a new
 * session, telling older sessions to close, releasing on close, and re-checking every session after
 * a NATS reconnect or a stall (controls sent while we were cut off are lost: core NATS is at most once).
 */
import { pushSubjects } from '../../protocol/cluster/mod.js';
import type { ActorNode } from '../../runtime/mod.js';
import type { Connection } from './connection.js';
import { encodeFenceControl, SUPERSEDED, type SessionFence } from './fence.js';
import type { Hub } from './hub.js';

const SETTLE_WAIT_MS = 2_000;

/** How often, and how far apart, a fence read that failed during a re-check is tried again. */
const RECHECK_ATTEMPTS = 10;
const RECHECK_DELAY_MS = 1_000;

export class SessionClaims {
  readonly #fence: SessionFence;
  readonly #node: ActorNode;
  readonly #prefix: string;
  readonly #releases = new Set<Promise<void>>();

  constructor(fence: SessionFence, node: ActorNode, prefix: string) {
    this.#fence = fence;
    this.#node = node;
    this.#prefix = prefix;
  }

  /**
   * Claims `conn`'s connection id; its session then gets `fenced`, `replaced` (a newer claim was seen
   * meanwhile) or `fence.failed`. A won claim is announced on the connection's push subject so that
   * older sessions, on any node (this one too), close. A claim that finds the id held by a session
   * opened later than this one (this node was paused or cut off meanwhile) gives way: `replaced`.
   */
  claim(conn: Connection): void {
    const node = this.#node;
    this.#fence.claim(conn.connectionId, node.id, conn.openedAt).then(
      (epoch) => {
        if (epoch === SUPERSEDED) {
          node.logger.info({ connectionId: conn.connectionId }, 'session fence: a session of this device opened later holds its id; closing this one as replaced');
          conn.deliver({ type: 'replaced' });
          return;
        }
        if (conn.closing) {
          this.release(conn.connectionId, epoch);
          return;
        }
        conn.epoch = epoch;
        if (conn.seenEpoch > epoch) {
          conn.deliver({ type: 'replaced' });
          return;
        }
        node.nats.publish(pushSubjects.connection(this.#prefix, conn.connectionId), encodeFenceControl(conn.userId, epoch, node.id));
        conn.deliver({ type: 'fenced', epoch });
      },
      (err: unknown) => {
        node.logger.warn({ err, connectionId: conn.connectionId }, 'session fence unreachable');
        conn.deliver({ type: 'fence.failed', reason: err instanceof Error ? err.message : String(err) });
      },
    );
  }

  /** Gives the id up if `epoch` still holds it (best effort: a later claim takes over anyway). */
  release(connectionId: string, epoch: number): void {
    const p = this.#fence
      .release(connectionId, epoch)
      .catch((err: unknown) => this.#node.logger.debug({ err, connectionId }, 'could not release a session fence key'))
      .finally(() => this.#releases.delete(p));
    this.#releases.add(p);
  }

  /**
   * Re-reads the claim of every session of `hub` and closes (`replaced`) those whose claim is no longer
   * current: after a NATS reconnect or a stall, fence controls published meanwhile may never arrive.
   */
  revalidate(hub: Hub): void {
    this.#recheck(hub.snapshot().filter((conn) => conn.epoch !== 0), 0); // epoch 0: still claiming, its claim decides
  }

  /**
   * Re-reads the fence for `conns`. A read that fails (right after a pause the NATS link may still be the
   * dead one) is tried again a second later, up to RECHECK_ATTEMPTS times: a session that lost its id
   * while this node was away must not stay live because one read fell into that gap.
   */
  #recheck(conns: readonly Connection[], attempt: number): void {
    if (conns.length === 0) return;
    const failed: Connection[] = [];
    void Promise.all(
      conns.map((conn) =>
        this.#fence.holder(conn.connectionId).then(
          (holder) => {
            if (holder === undefined || holder.epoch !== conn.epoch) conn.deliver({ type: 'replaced' });
          },
          (err: unknown) => {
            if (!conn.closing) failed.push(conn);
            this.#node.logger.debug({ err, connectionId: conn.connectionId, attempt }, 'could not re-check a session fence');
          },
        ),
      ),
    ).then(() => {
      if (failed.length === 0) return;
      if (attempt + 1 >= RECHECK_ATTEMPTS) {
        this.#node.logger.warn({ sessions: failed.length }, 'could not re-check the session fence of some sessions; the next NATS reconnect re-checks them');
        return;
      }
      const t = setTimeout(() => this.#recheck(failed, attempt + 1), RECHECK_DELAY_MS);
      t.unref();
    });
  }

  /** Waits (a bounded time) for releases in flight. */
  async stop(): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const waited = new Promise<void>((resolve) => (timer = setTimeout(resolve, SETTLE_WAIT_MS)));
    await Promise.race([Promise.allSettled([...this.#releases]), waited]);
    clearTimeout(timer);
  }
}
