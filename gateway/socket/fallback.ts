/**
 * Fallback offers: with its `welcome`, a session gets a ticket for the socket node its connection would
 * move to if this node went away, so that a client whose node dies reconnects there at once, without
 * asking the distributor (POST /v1/connect) first (docs/protocol.md 3.1, "fallback").
 *
 * The node is the distributor's own choice: the same allocation (actors/distributor SocketTable, a
 * rendezvous hash of the connection's push slot over the live socket servers) with this node excluded,
 * over this node's view of the membership. So a dead node's clients spread over the survivors exactly
 * as the distributor would spread them, and the distributors, the gateway's token check and the
 * clients' HTTP round trip are out of the reconnect storm's path.
 *
 * The ticket is an ordinary ticket (gateway/ticket.ts) bound to the connection id and to one run of the
 * fallback node, single use, marked `fb` and allowed a longer lifetime (`fallbackTicketTtlMs`, capped by
 * the expiry of the user's token the distributor checked, `tex`). A client that cannot use it (expired,
 * the node restarted or is gone) asks the distributor as before.
 *
 * A client arriving from a node it could not keep (the fallback path itself, or a reconnect) names the
 * nodes it just failed on in the socket URL (`&exclude=`, as in POST /v1/connect): its offer avoids them,
 * so the clients of a node that died are not offered that node while membership still lists it.
 *
 * Offers follow the cluster: when the socket servers change (a node joins, leaves or restarts), the
 * connections whose offer is no longer the distributor's choice (or names a node that left or restarted)
 * get a `{t:"fallback"}` frame with the new one (or none), and every connection gets a fresh offer each
 * half lifetime, so a client holds a usable one all along. fallback-sender.ts sends those frames, spread
 * over time.
 *
 * An offer also says how long its client should spread its first attempt over (`spreadMs`, sized from this
 * node's connections and the survivors: storm-spread.ts); every connection gets a new offer when that
 * spread has doubled or halved.
 */
import { SocketTable, type SocketServer } from '../../actors/distributor/mod.js';
import { PUSH_SLOTS, pushSlot } from '../../protocol/cluster/mod.js';
import type { FallbackOffer } from '../../protocol/mod.js';
import type { ActorNode } from '../../runtime/mod.js';
import { signTicket } from '../ticket.js';
import { nextJti } from '../jti.js';
import type { StormSpread } from './storm-spread.js';

/** A fallback ticket that would live less than this is not offered (the client could not use it). */
export const MIN_FALLBACK_LIFETIME_MS = 5_000;
/** Node ids a client may ask its offer to avoid (as `exclude` of POST /v1/connect). */
export const MAX_AVOID = 8;

/** What an offer is made for: the connection's identity and its token's expiry (0: not known). */
export interface FallbackSubject {
  readonly connectionId: string;
  readonly userId: string;
  readonly deviceId: string;
  readonly tokenExpiresAt: number;
}

/**
 * Which connections need a new offer: `stale(slot, offered)` is true for a connection of push slot
 * `slot` whose last offer named node `offered` (undefined: it has none) when that is no longer the offer
 * it would get (always true for the periodic refresh). `why` is for the log.
 */
export type FallbackRefresh = (stale: (slot: string, offered: string | undefined) => boolean, why: string) => void;

/** Slot fallbacks under one table (null: none), filled as slots are asked for. */
type SlotCache = (SocketServer | null | undefined)[];

export class FallbackOffers {
  readonly #node: ActorNode;
  readonly #secret: string | Uint8Array;
  readonly #ttlMs: number;
  readonly #spread: StormSpread | undefined;
  readonly #refresh: FallbackRefresh;
  #table: SocketTable;
  #bySlot: SlotCache = [];
  readonly #off: () => void;
  readonly #timer: NodeJS.Timeout | undefined;

  /**
   * `ttlMs` 0: no offers. `refresh` is told which connections need a new offer, and when. `spread`: the
   * reconnect spread offers carry (none without it).
   */
  constructor(node: ActorNode, secret: string | Uint8Array, ttlMs: number, refresh: FallbackRefresh, spread?: StormSpread) {
    this.#node = node;
    this.#secret = secret;
    this.#ttlMs = ttlMs;
    this.#spread = spread;
    this.#refresh = refresh;
    this.#table = ttlMs > 0 ? SocketTable.fromMembers(node.members()) : SocketTable.empty;
    if (ttlMs <= 0) {
      this.#off = () => undefined;
      return;
    }
    this.#off = node.onMembership((event) => {
      const before = this.#table;
      const next = before.apply(event);
      if (next === before) return;
      this.#table = next;
      this.#bySlot = [];
      // The node of the event: gone, restarted (a new run: tickets for it are void) or moved.
      const id = event.member.nodeId;
      const was = before.get(id);
      const now = next.get(id);
      const voided = was !== undefined && (now === undefined || now.run !== was.run || now.url !== was.url) ? id : undefined;
      refresh((slot, offered) => (voided !== undefined && offered === voided) || this.#pick(next, this.#bySlot, slot)?.id !== offered, 'the socket servers changed');
    });
    this.#timer = setInterval(() => refresh(() => true, 'offers are half their lifetime old'), ttlMs / 2);
    this.#timer.unref();
  }

  /**
   * The offer for `subject` at `now`, avoiding the nodes in `avoid` (the client's hint) unless they are
   * all there is; undefined when offers are off, there is no other live socket server, or the token is
   * about to expire.
   */
  offer(subject: FallbackSubject, now: number, avoid?: readonly string[]): FallbackOffer | undefined {
    if (this.#ttlMs <= 0) return undefined;
    const server = avoid === undefined || avoid.length === 0 ? this.#serverFor(subject.connectionId) : this.#avoiding(subject.connectionId, avoid);
    if (server === undefined) return undefined;
    let exp = now + this.#ttlMs;
    if (subject.tokenExpiresAt > 0 && subject.tokenExpiresAt < exp) exp = subject.tokenExpiresAt;
    if (exp - now < MIN_FALLBACK_LIFETIME_MS) return undefined;
    const ticket = signTicket(this.#secret, {
      cid: subject.connectionId,
      uid: subject.userId,
      did: subject.deviceId,
      node: server.id,
      ...(server.run !== undefined && { run: server.run }),
      exp,
      jti: nextJti(),
      fb: true,
      ...(subject.tokenExpiresAt > 0 && { tex: subject.tokenExpiresAt }),
    });
    const spreadMs = this.#spread?.current(this.#survivors());
    if (this.#spread?.due(spreadMs) === true) {
      // Not from inside this offer: the renewal walks every connection, this one's welcome included.
      setImmediate(() => this.#refresh(() => true, 'the reconnect spread of offers doubled'));
    }
    const offer: FallbackOffer = { node: server.id, socket: { host: server.host, port: server.port, url: server.url }, ticket, expiresAt: exp };
    if (spreadMs !== undefined) offer.spreadMs = spreadMs;
    return offer;
  }

  /** The reconnect spread an offer made now would carry, ms (0: none, or offers off). */
  get spreadMs(): number {
    return this.#ttlMs > 0 ? (this.#spread?.current(this.#survivors()) ?? 0) : 0;
  }

  /** False when offers are off (`ttlMs` 0). */
  get enabled(): boolean {
    return this.#ttlMs > 0;
  }

  stop(): void {
    this.#off();
    clearInterval(this.#timer);
  }

  /** The socket servers of the table other than this node: where this node's clients would go. */
  #survivors(): number {
    return this.#table.size - (this.#table.get(this.#node.id) === undefined ? 0 : 1);
  }

  #serverFor(connectionId: string): SocketServer | undefined {
    return this.#pick(this.#table, this.#bySlot, pushSlot(connectionId));
  }

  /** The pick with this node and `avoid` excluded; the plain fallback when that leaves nothing. */
  #avoiding(connectionId: string, avoid: readonly string[]): SocketServer | undefined {
    const self = this.#node.id;
    const picked = this.#table.pick(connectionId, [self, ...avoid]);
    if (picked !== undefined && picked.id !== self && !avoid.includes(picked.id)) return picked;
    return this.#serverFor(connectionId);
  }

  /** The fallback of `slot` under `table`: its pick with this node excluded (undefined: none). */
  #pick(table: SocketTable, cache: SlotCache, slot: string): SocketServer | undefined {
    const i = Number.parseInt(slot, 16);
    const cacheable = i >= 0 && i < PUSH_SLOTS;
    if (cacheable) {
      const known = cache[i];
      if (known !== undefined) return known ?? undefined;
    }
    const self = this.#node.id;
    const picked = table.pickSlot(slot, [self]);
    // pickSlot() ignores the exclusion when this node is the only server: then there is nowhere to fall back to.
    const server = picked === undefined || picked.id === self ? undefined : picked;
    if (cacheable) cache[i] = server ?? null;
    return server;
  }
}

/**
 * The nodes a client asks its offer to avoid, from the socket URL's `exclude` (comma-separated node
 * ids); anything malformed is ignored (it is a hint).
 */
export function parseAvoid(query: string | undefined): string[] | undefined {
  if (query === undefined || query === '' || query.length > MAX_AVOID * 129) return undefined;
  const ids = query.split(',').filter((id) => id.length > 0 && id.length <= 128);
  return ids.length === 0 ? undefined : ids.slice(0, MAX_AVOID);
}
