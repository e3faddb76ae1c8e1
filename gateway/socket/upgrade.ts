/**
 * The ticket check at the HTTP upgrade, synchronous and without I/O: signature, claims, expiry, node and
 * run, lifetime, and this process's replay memory (enough for single use: gateway/ticket.ts). A refused
 * ticket gets HTTP 401 with a short JSON body naming the problem; no WebSocket is opened.
 */
import { connectionId as computeConnectionId, isConnectionId } from '../../protocol/cluster/mod.js';
import { TicketError, verifyTicket, type TicketClaims, type TicketPolicy, type TicketReplayGuard } from '../ticket.js';

/** Clock skew allowed between the distributor that signs a ticket and the socket node that checks it. */
export const TICKET_CLOCK_SKEW_MS = 5_000;

/** Why a ticket was refused, as the 401 body names it. */
export type RefusalProblem = 'missing' | 'malformed' | 'forged' | 'expired' | 'foreign' | 'replayed';

export type Admission =
  | { readonly ok: true; readonly claims: TicketClaims }
  | { readonly ok: false; readonly problem: RefusalProblem; readonly message: string };

/**
 * Checks `ticket` for this node at `now`; a good ticket is used up in `guard` (this process). A ticket
 * expiring further out than the policy allows (`maxTtlMs`, `maxFallbackTtlMs` for a fallback ticket) is
 * refused.
 */
export function admitTicket(
  ticket: string | undefined,
  secret: string | Uint8Array,
  nodeId: string,
  guard: TicketReplayGuard,
  now: number,
  policy: TicketPolicy = {},
): Admission {
  if (ticket === undefined || ticket === '') {
    return { ok: false, problem: 'missing', message: 'no ticket: open socket.url with ?ticket=<ticket> from POST /v1/connect' };
  }
  try {
    const claims = verifyTicket(secret, ticket, nodeId, now, policy);
    // Signed by a distributor, but the push plane routes by the connection id's user key: make sure
    // it belongs to the ticket's user before trusting it.
    if (!isConnectionId(claims.cid) || claims.cid !== computeConnectionId(claims.uid, claims.did)) {
      return { ok: false, problem: 'malformed', message: 'ticket connection id does not match its user and device' };
    }
    guard.use(claims, now);
    return { ok: true, claims };
  } catch (err) {
    if (err instanceof TicketError) return { ok: false, problem: err.problem, message: err.message };
    return { ok: false, problem: 'malformed', message: 'ticket could not be read; ask the distributor for a new one' };
  }
}

/** The 401 body: {"error":{"code":"unauthorized","problem":...,"message":...}}. */
export function refusalBody(problem: RefusalProblem, message: string): string {
  return JSON.stringify({ error: { code: 'unauthorized', problem, message } });
}
