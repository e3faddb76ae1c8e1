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
 *
 * A node starting many sessions at once (a reconnect storm: `busy()`) leaves the offer out of the
 * welcome and sends it in a `{t:"fallback"}` frame once the burst is over, spread the same way: signing
 * a ticket was about 6% of a survivor's CPU in the storm (P7), and the storm's clients need to be live
 * first; an offer is for the next failure.
 */
import type { Logger } from 'pino';
import { pushSlot } from '../../protocol/cluster/mod.js';
import { fallbackFrame, type FallbackOffer } from '../../protocol/mod.js';
import type { ActorNode } from '../../runtime/mod.js';
import type { Connection } from './connection.js';
import { spreadOver, type Spread } from './drain.js';
import { FallbackOffers } from './fallback.js';
import type { Hub } from './hub.js';
import { StormSpread } from './storm-spread.js';

const SPREAD_MAX_MS = 60_000;
const SPREAD_MS_PER_CONNECTION = 2;
/** While busy, whether the burst is over is looked at this often. */
const DEFERRED_CHECK_MS = 250;
/** Offers left out of welcomes go out after this long even if the node is still busy. */
const DEFERRED_MAX_MS = 30_000;

export class FallbackSender {
  readonly #offers: FallbackOffers;
  readonly #hub: Hub;
  readonly #logger: Logger;
  readonly #spreads = new Set<Spread>();
  readonly #busy: () => boolean;
  /** Welcomes sent without their offer while busy, waiting for the burst to end. */
  #deferred: Connection[] = [];
  #deferredTimer: NodeJS.Timeout | undefined;
  /** When the oldest of `#deferred` was left out. */
  #deferredSince = 0;
  #stopped = false;
  #frames = 0;
  #pending = 0;
  #deferredTotal = 0;

  /**
   * `ttlMs` 0: no offers, no frames. `busy()`: the node is starting so many sessions that welcomes go
   * without their offer (sent later in a frame). `stormRate`: connections a second a surviving node
   * takes, which sizes the offers' reconnect spread (storm-spread.ts; 0 or absent: offers carry none).
   */
  constructor(node: ActorNode, secret: string | Uint8Array, ttlMs: number, hub: Hub, options: { busy?: () => boolean; stormRate?: number } = {}) {
    this.#hub = hub;
    this.#logger = node.logger;
    this.#busy = options.busy ?? (() => false);
    const spread = options.stormRate !== undefined && options.stormRate > 0 ? new StormSpread(options.stormRate, () => hub.size) : undefined;
    this.#offers = new FallbackOffers(node, secret, ttlMs, (stale, why) => this.#renew(stale, why), spread);
  }

  /** `{t:"fallback"}` frames sent. */
  get frames(): number {
    return this.#frames;
  }

  /** Renewals and deferred offers scheduled and not sent yet. */
  get pending(): number {
    return this.#pending;
  }

  /** The reconnect spread an offer made now would carry, ms (0: none). */
  get spreadMs(): number {
    return this.#offers.spreadMs;
  }

  /** Welcomes sent without their offer because the node was busy (their offer followed in a frame). */
  get deferred(): number {
    return this.#deferredTotal;
  }

  /**
   * The offer `conn`'s welcome carries: offerFor() now, or, while the node is busy, none, and the
   * connection is given its offer in a frame once the burst is over.
   */
  welcomeOffer(conn: Connection): FallbackOffer | undefined {
    if (!this.#offers.enabled || this.#stopped || !this.#busy()) return this.offerFor(conn);
    if (conn.markOfferPending()) {
      if (this.#deferred.length === 0) this.#deferredSince = Date.now();
      this.#deferred.push(conn);
      this.#pending++;
      this.#deferredTotal++;
      this.#deferredTimer ??= setInterval(() => this.#sendDeferred(), DEFERRED_CHECK_MS).unref();
    }
    return undefined;
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
    clearInterval(this.#deferredTimer);
    this.#deferredTimer = undefined;
    this.#deferred = [];
    this.#pending = 0;
  }

  /** The burst is over (or the oldest waited DEFERRED_MAX_MS): the offers left out of welcomes go out, spread. */
  #sendDeferred(): void {
    if (this.#busy() && Date.now() - this.#deferredSince < DEFERRED_MAX_MS) return;
    clearInterval(this.#deferredTimer);
    this.#deferredTimer = undefined;
    const all = this.#deferred;
    this.#deferred = [];
    this.#pending -= all.length;
    this.#send(all.filter((c) => !c.closing), 'offers were left out of welcomes while the node started a burst of sessions');
  }

  #renew(stale: (slot: string, offered: string | undefined) => boolean, why: string): void {
    if (this.#stopped) return;
    const conns: Connection[] = [];
    this.#hub.forEach((c) => {
      if (c.ref !== undefined && !c.closing && stale(pushSlot(c.connectionId), c.offered) && c.markOfferPending()) conns.push(c);
    });
    this.#send(conns, why);
  }

  /** Sends `conns` (each marked pending) their offers, spread over 2 ms each and at most 60 s. */
  #send(conns: Connection[], why: string): void {
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
