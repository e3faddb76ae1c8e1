/**
 * Tickets: short-lived credentials the distributor issues and a socket server checks at the HTTP upgrade.
 *
 * Format: base64url(payload) + "." + base64url(HMAC-SHA256(secret, "sm-ticket-v1." + base64url(payload)))
 * where payload is the JSON object {v:1, cid, uid, did, node, run, exp, jti}. A ticket is bound to one connection id
 * and one run of one socket node (`run`: the random id the node announces for its current process, see
 * protocol/cluster/membership.ts), expires at `exp` (ms since the epoch), and carries a random `jti` so the node can
 * refuse a replay. Because a ticket is good for one run of one node only, the node's in-process replay memory
 * (TicketReplayGuard) makes it single use: after a restart the node has a new run and refuses every older ticket.
 * Every distributor and socket node shares the secret.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

export interface TicketClaims {
  /** Connection id. */
  readonly cid: string;
  readonly uid: string;
  readonly did: string;
  /** Socket node id the ticket is for. */
  readonly node: string;
  /** The run of that node the ticket is for (absent from a distributor of an earlier version). */
  readonly run?: string;
  /** Expiry, ms since the epoch. */
  readonly exp: number;
  /** Unique ticket id (replay protection). */
  readonly jti: string;
  /**
   * A fallback ticket (extension): issued by a socket node in `welcome` for the node its connection would
   * move to if this one went away (gateway/socket/fallback.ts), with a longer lifetime than a
   * distributor's ticket (`maxFallbackTtlMs` of verifyTicket).
   */
  readonly fb?: true;
  /**
   * When the user's token that the distributor checked expires (ms since the epoch; absent from older
   * distributors): a fallback ticket never outlives it.
   */
  readonly tex?: number;
}

/** Why a ticket was refused. */
export type TicketProblem = 'malformed' | 'forged' | 'expired' | 'foreign' | 'replayed';

export class TicketError extends Error {
  readonly problem: TicketProblem;
  constructor(problem: TicketProblem, message: string) {
    super(message);
    this.name = 'TicketError';
    this.problem = problem;
  }
}

const DOMAIN = 'sm-ticket-v1.';
const MAX_TICKET_LENGTH = 2048;
/** Ticket ids: base64url only. */
const JTI = /^[A-Za-z0-9_-]{8,64}$/;

function mac(secret: string | Uint8Array, body: string): Buffer {
  return createHmac('sha256', secret).update(DOMAIN + body).digest();
}

/** Signs a ticket. `jti` is generated when absent. */
export function signTicket(secret: string | Uint8Array, claims: Omit<TicketClaims, 'jti'> & { jti?: string }): string {
  const payload = { v: 1, ...claims, jti: claims.jti ?? randomBytes(12).toString('base64url') };
  const body = Buffer.from(JSON.stringify(payload)).toString('base64url');
  return `${body}.${mac(secret, body).toString('base64url')}`;
}

/** What a socket node accepts: the longest lifetimes of a distributor's ticket and of a fallback ticket (0: none), and its run. */
export interface TicketPolicy {
  /** Refuse a distributor's ticket that expires further out than this. */
  readonly maxTtlMs?: number;
  /** Refuse a fallback ticket (`fb`) further out than this; absent or 0: refuse every fallback ticket. */
  readonly maxFallbackTtlMs?: number;
  /** The node's current run: a ticket of another run (or none) is refused as `foreign`. */
  readonly run?: string;
}

/**
 * Verifies a ticket for socket node `node` at time `now` under `policy`. Throws TicketError naming the
 * problem. Replay protection is the caller's (TicketReplayGuard).
 */
export function verifyTicket(secret: string | Uint8Array, ticket: string, node: string, now: number, policy: TicketPolicy = {}): TicketClaims {
  const { maxTtlMs, maxFallbackTtlMs, run } = policy;
  if (!ticket || ticket.length > MAX_TICKET_LENGTH) throw new TicketError('malformed', 'missing or over-long ticket');
  const dot = ticket.indexOf('.');
  if (dot <= 0 || dot !== ticket.lastIndexOf('.')) throw new TicketError('malformed', 'ticket is not body.signature');
  const body = ticket.slice(0, dot);
  const sig = Buffer.from(ticket.slice(dot + 1), 'base64url');
  const want = mac(secret, body);
  if (sig.length !== want.length || !timingSafeEqual(sig, want)) throw new TicketError('forged', 'ticket signature does not match');
  let claims: Partial<TicketClaims> & { v?: unknown };
  try {
    claims = JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as Partial<TicketClaims> & { v?: unknown };
  } catch {
    throw new TicketError('malformed', 'ticket body is not JSON');
  }
  const { cid, uid, did, exp, jti } = claims;
  if (claims.v !== 1 || typeof cid !== 'string' || typeof uid !== 'string' || typeof did !== 'string' ||
      typeof claims.node !== 'string' || typeof exp !== 'number' || typeof jti !== 'string') {
    throw new TicketError('malformed', 'ticket claims are incomplete');
  }
  if (!JTI.test(jti)) throw new TicketError('malformed', 'ticket id (jti) is not 8 to 64 base64url characters');
  if (exp <= now) throw new TicketError('expired', 'ticket expired; ask the distributor for a new one');
  const fallback = claims.fb === true;
  if (fallback) {
    if (maxFallbackTtlMs === undefined || maxFallbackTtlMs <= 0) {
      throw new TicketError('foreign', 'this socket node takes no fallback tickets (--fallback-ticket-ttl-ms 0); ask the distributor for a ticket');
    }
    if (exp - now > maxFallbackTtlMs) {
      throw new TicketError('malformed', 'fallback ticket lifetime is longer than this socket node accepts; give every node the same --fallback-ticket-ttl-ms');
    }
  } else if (maxTtlMs !== undefined && exp - now > maxTtlMs) {
    // A ticket valid for longer than the node expects is a misconfiguration (or a forged lifetime).
    throw new TicketError('malformed', 'ticket lifetime is longer than this socket node accepts; give every node the same --ticket-ttl-ms');
  }
  if (claims.node !== node) throw new TicketError('foreign', 'ticket was issued for another socket server');
  if (run !== undefined && claims.run !== run) {
    throw new TicketError(
      'foreign',
      typeof claims.run === 'string'
        ? 'ticket was issued for an earlier run of this socket server (it restarted); ask the distributor for a new one'
        : 'ticket names no run of this socket server: the distributor that issued it is older than this node; upgrade the gateways, then ask for a new ticket',
    );
  }
  const tex = typeof claims.tex === 'number' && Number.isFinite(claims.tex) ? claims.tex : undefined;
  return {
    cid, uid, did, node: claims.node, ...(typeof claims.run === 'string' && { run: claims.run }), exp, jti,
    ...(fallback && { fb: true as const }), ...(tex !== undefined && { tex }),
  };
}

/**
 * Remembers used ticket ids until they expire, in this process: with tickets bound to one run of one node,
 * that is all the replay memory single use needs (a restarted node refuses tickets of its earlier run).
 */
export class TicketReplayGuard {
  readonly #seen = new Map<string, number>();
  #lastSweep = 0;

  /** Throws TicketError('replayed') when `claims.jti` was used before. */
  use(claims: TicketClaims, now: number): void {
    if (now - this.#lastSweep > 1_000) this.#sweep(now);
    if (this.#seen.has(claims.jti)) throw new TicketError('replayed', 'ticket was already used; ask the distributor for a new one');
    this.#seen.set(claims.jti, claims.exp);
  }

  get size(): number {
    return this.#seen.size;
  }

  #sweep(now: number): void {
    this.#lastSweep = now;
    for (const [jti, exp] of this.#seen) if (exp <= now) this.#seen.delete(jti);
  }
}
