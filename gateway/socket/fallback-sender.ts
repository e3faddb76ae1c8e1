/**
 * The socket server's side of fallback offers (fallback.ts): the offer each welcome carries (avoiding the
 * nodes the client named, and remembered per connection), and the `{t:"fallback"}` frames that renew the
 * offers that went stale when the socket servers changed, or every half lifetime.
 *
 * Renewals are sent on the socket, not through the session (a hibernated session stays asleep), spread
 * over 2 ms per connection and at most 60 s: they are not urgent (a client whose offer is stale asks the
 * distributor), and the change that causes them is often a node's death, whose clients' storm this node is
 * absorbing: about 500 frames a second, a percent of a core. A connection whose session has not sent its
 * welcome yet is skipped (its welcome carries the current offer), and one already scheduled is not
 * scheduled again (its frame carries the offer of the moment it goes out).
 */
import type { Logger } from 'pino';
import { pushSlot } from '../../protocol/cluster/mod.js';
import { fallbackFrame, type FallbackOffer } from '../../protocol/mod.js';
import type { ActorNode } from '../../runtime/mod.js';
import type { Connection } from './connection.js';
import { spreadOver, type Spread } from './drain.js';
import { FallbackOffers } from './fallback.js';
import type { Hub } from './hub.js';

const SPREAD_MAX_MS = 60_000;
const SPREAD_MS_PER_CONNECTION = 2;

export class FallbackSender {
  readonly #offers: FallbackOffers;
  readonly #hub: Hub;
  readonly #logger: Logger;
  readonly #spreads = new Set<Spread>();
  #stopped = false;
  #frames = 0;
  #pending = 0;

  /** `ttlMs` 0: no offers, no frames. */
  constructor(node: ActorNode, secret: string | Uint8Array, ttlMs: number, hub: Hub) {
    this.#hub = hub;
    this.#logger = node.logger;
    this.#offers = new FallbackOffers(node, secret, ttlMs, (stale, why) => this.#renew(stale, why));
  }

  /** `{t:"fallback"}` frames sent. */
  get frames(): number {
    return this.#frames;
  }

  /** Renewals scheduled and not sent yet. */
  get pending(): number {
    return this.#pending;
  }

  /** The offer for `conn` now (its welcome's, or a renewal), remembered on it; its `avoid` hint is used up. */
  offerFor(conn: Connection): FallbackOffer | undefined {
    const offer = this.#offers.offer(conn, Date.now(), conn.avoid);
    conn.avoid = undefined;
    conn.offered = offer?.node;
    return offer;
  }

  stop(): void {
    this.#stopped = true;
    this.#offers.stop();
    for (const spread of this.#spreads) spread.cancel();
    this.#pending = 0;
  }

  #renew(stale: (slot: string, offered: string | undefined) => boolean, why: string): void {
    if (this.#stopped) return;
    const conns: Connection[] = [];
    this.#hub.forEach((c) => {
      if (c.ref !== undefined && !c.closing && stale(pushSlot(c.connectionId), c.offered) && c.markOfferPending()) conns.push(c);
    });
    if (conns.length === 0) return;
    const spreadMs = Math.min(SPREAD_MAX_MS, conns.length * SPREAD_MS_PER_CONNECTION);
    this.#logger.info({ why, connections: conns.length, spreadMs }, 'sending new fallback offers');
    this.#pending += conns.length;
    const spread = spreadOver(conns, spreadMs, (conn) => {
      this.#pending--;
      conn.offerSent();
      if (conn.closing) return;
      this.#frames++;
      conn.send(fallbackFrame(this.offerFor(conn)));
    });
    this.#spreads.add(spread);
    void spread.done.then(() => this.#spreads.delete(spread));
  }
}
