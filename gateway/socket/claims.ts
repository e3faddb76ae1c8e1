/**
 * The socket node's side of the session fence (fence.ts): announcing a session's claim so that older
 * sessions of its connection id close, answering late announcements of older sessions, and announcing
 * every session again after a NATS reconnect or a stall (controls sent while this node was cut off are
 * lost: core NATS is at most once).
 */
import { pushSubjects } from '../../protocol/cluster/mod.js';
import type { ActorNode } from '../../runtime/mod.js';
import type { Connection } from './connection.js';
import { compareClaims, encodeFenceControl, type FenceClaim } from './fence.js';
import type { Hub } from './hub.js';

/** Re-announcements after a reconnect are spread over at most this long (one publish each). */
const REANNOUNCE_SPREAD_MS = 2_000;

export class SessionClaims {
  readonly #node: ActorNode;
  readonly #prefix: string;
  #reannounce: NodeJS.Timeout | undefined;

  constructor(node: ActorNode, prefix: string) {
    this.#node = node;
    this.#prefix = prefix;
  }

  /**
   * Claims `conn`'s connection id: its session gets `fenced`, or `replaced` when a newer session of
   * its device announced itself while this one was being admitted. The claim is announced on the
   * connection's push subject, so that older sessions, on any node (this one too), close.
   */
  claim(conn: Connection): void {
    if (conn.superseded) {
      conn.deliver({ type: 'replaced' });
      return;
    }
    try {
      this.#announce(conn);
    } catch (err) {
      this.#node.logger.warn({ err, connectionId: conn.connectionId }, 'could not announce a session to the fence');
      conn.deliver({ type: 'fence.failed', reason: err instanceof Error ? err.message : String(err) });
      return;
    }
    conn.markClaimed();
    conn.deliver({ type: 'fenced', epoch: conn.epoch });
  }

  /**
   * A fence control for `conn`'s connection id arrived (push-plane.ts): a newer claim replaces it; an
   * older one, from a session that has not learned it lost, is answered with ours.
   */
  control(conn: Connection, other: FenceClaim): void {
    const order = compareClaims(other, { epoch: conn.epoch, node: this.#node.id });
    if (order === 0) return; // our own announcement
    if (order > 0) {
      if (conn.claimed) conn.deliver({ type: 'replaced' });
      else conn.markSuperseded();
      return;
    }
    if (conn.claimed && !conn.closing) this.#announce(conn);
  }

  /**
   * Announces every claimed session of `hub` again: controls published while this node was cut off
   * or frozen never arrive, so a session that lost its id meanwhile learns it from the newer holder's
   * answer. Spread over a short while so that a large node does not burst.
   */
  reannounce(hub: Hub): void {
    clearTimeout(this.#reannounce);
    const conns = hub.snapshot().filter((c) => c.claimed);
    const batch = Math.max(1, Math.ceil(conns.length / (REANNOUNCE_SPREAD_MS / 50)));
    let i = 0;
    const step = (): void => {
      this.#reannounce = undefined;
      const end = Math.min(conns.length, i + batch);
      try {
        for (; i < end; i++) {
          const c = conns[i]!;
          if (!c.closing) this.#announce(c);
        }
      } catch (err) {
        this.#node.logger.warn({ err, left: conns.length - i }, 'could not announce the sessions again; the next NATS reconnect does');
        return;
      }
      if (i < conns.length) {
        this.#reannounce = setTimeout(step, 50);
        this.#reannounce.unref();
      }
    };
    step();
  }

  stop(): void {
    clearTimeout(this.#reannounce);
    this.#reannounce = undefined;
  }

  #announce(conn: Connection): void {
    this.#node.nats.publish(pushSubjects.connection(this.#prefix, conn.connectionId), encodeFenceControl(conn.userId, conn.epoch, this.#node.id));
  }
}
