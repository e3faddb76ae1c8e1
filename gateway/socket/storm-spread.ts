/**
 * The reconnect spread a fallback offer carries (docs/protocol.md 3.1, `spreadMs`): how long the clients
 * of this node, should it die, spread their first attempt over, sized so that the survivors are not
 * asked for more than they can take.
 *
 * When a node of C connections dies, its clients go to the S other socket servers (the fallback of each
 * connection's push slot: about C / S each), and nothing but the clients' own jitter paces them. A
 * survivor takes about R connections a second (`stormRate`: the upgrade, the session start and the
 * `welcome`, about 0.45 ms of a survivor's CPU each, docs/capacity.md); arrivals beyond that queue in
 * its accept backlog (512 in uWebSockets.js), and past it the kernel drops handshakes, each costing its
 * client a SYN retransmission of 1 s and more. So the clients should spread over C / (S x R) seconds:
 * a node of 100k with 10 survivors of 2,000/s, 5 s; the clients' own 0.1-1 s keeps smaller nodes as
 * they were.
 *
 * An offer's spread is sized when the offer is made, from the node's connections and the other socket
 * servers at that moment. A node filling up would leave its early connections with spreads sized for a
 * fraction of its final count (and a node that survivors joined, with spreads sized for fewer), so when
 * the spread a new offer gets has doubled, or halved, since every connection last got one, all of them
 * get a new offer (`due()`): every offer's spread stays within a factor of two of the current one, at
 * the cost of signing every offer again once per doubling (about twice the connections over a node's
 * fill-up) and once per halving.
 */

/** No offer asks for less: the reference client spreads its first attempt over 0.1-1 s by itself. */
export const MIN_STORM_SPREAD_MS = 1_000;
/** Nor for more: a client whose node died should not wait minutes whatever the cluster's shape. */
export const MAX_STORM_SPREAD_MS = 120_000;

/**
 * The spread, in ms, for `connections` going to `survivors` nodes that take `ratePerSurvivor` a second
 * each: at least MIN_STORM_SPREAD_MS and at most MAX_STORM_SPREAD_MS; undefined when there is no
 * survivor or no rate (offers then carry none).
 */
export function stormSpreadMs(connections: number, survivors: number, ratePerSurvivor: number): number | undefined {
  if (!(survivors >= 1) || !(ratePerSurvivor > 0)) return undefined;
  const ms = Math.ceil((Math.max(0, connections) / (survivors * ratePerSurvivor)) * 1000);
  return Math.min(MAX_STORM_SPREAD_MS, Math.max(MIN_STORM_SPREAD_MS, ms));
}

/** The spread of this node's offers, and when every connection's offer is due again because it moved. */
export class StormSpread {
  readonly #rate: number;
  readonly #connections: () => number;
  /** The smallest and largest spread offered since every connection last got a new offer (none yet: undefined). */
  #lo: number | undefined;
  #hi: number | undefined;

  /** `ratePerSurvivor` 0: offers carry no spread. `connections()`: the node's connections now. */
  constructor(ratePerSurvivor: number, connections: () => number) {
    this.#rate = ratePerSurvivor;
    this.#connections = connections;
  }

  /** The spread of an offer made now, with `survivors` other socket servers. */
  current(survivors: number): number | undefined {
    return stormSpreadMs(this.#connections(), survivors, this.#rate);
  }

  /**
   * Called with the spread of each offer made: true, once, when it is twice the smallest spread offered
   * since every connection last got a new offer (the node filled up, or survivors left: the survivors
   * would get their clients faster than they take them) or half the largest (the node emptied, or
   * survivors joined: its clients would wait longer than they need); the caller then gives every
   * connection a new offer, and the band starts again from this spread.
   */
  due(now: number | undefined): boolean {
    if (now === undefined) return false;
    if (this.#lo === undefined || this.#hi === undefined) {
      this.#lo = this.#hi = now;
      return false;
    }
    if (now >= 2 * this.#lo || 2 * now <= this.#hi) {
      this.#lo = this.#hi = now;
      return true;
    }
    if (now < this.#lo) this.#lo = now;
    if (now > this.#hi) this.#hi = now;
    return false;
  }
}
