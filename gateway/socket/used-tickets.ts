/**
 * Cluster-wide, durable single use of tickets: a JetStream KV bucket `<prefix>_tickets` whose keys are
 * the ids (`jti`) of used tickets. Using a ticket writes its key with "expected last revision 0"
 * (create only): the first write wins in the whole cluster, a second one fails with "wrong last
 * sequence" and the ticket is a replay. The bucket's max_age (nats-server 2.9 has no per-key TTL) is
 * the longest ticket lifetime plus clock skew, so a key outlives its ticket and then goes by itself;
 * a socket node refuses tickets with a longer lifetime (ticket.ts verifyTicket `maxTtlMs`).
 *
 * A restarted socket node (kill -9 included), another socket node under the same node id, or a
 * socket node that never saw the ticket all find the key: a used ticket stays used until it expires.
 *
 * An in-memory guard (TicketReplayGuard) runs first: a replay on the same process is refused without
 * a round trip, and two upgrades racing with one ticket on one node never both reach JetStream.
 */
import { randomBytes } from 'node:crypto';
import { JetStreamApiCodes, JetStreamApiError } from '@nats-io/jetstream';
import type { KV } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/nats-core';
import { TicketError, type TicketClaims } from '../ticket.js';
import { SocketStartError } from './errors.js';
import { ensureBucket, StreamMismatchError } from '../../runtime/mod.js';

/** Clock skew allowed between the distributor that signs a ticket and the socket node that checks it. */
export const TICKET_CLOCK_SKEW_MS = 5_000;
/**
 * How long an upgrade may wait for JetStream to record its ticket (a NATS reconnect, a JetStream
 * leader election) before it is refused with 503; each write waits at most WRITE_TIMEOUT_MS.
 */
const USE_BUDGET_MS = 4_000;
const WRITE_TIMEOUT_MS = 1_500;
const FIRST_BACKOFF_MS = 100;

/** The ticket store could not be reached: the upgrade is refused with 503 (fail closed), not admitted. */
export class TicketStoreError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'TicketStoreError';
  }
}

function isWrongSequence(err: unknown): boolean {
  return (
    err instanceof JetStreamApiError &&
    (err.code === JetStreamApiCodes.StreamWrongLastSequence || err.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown)
  );
}

export class UsedTickets {
  readonly #kv: KV;
  readonly #node: string;

  private constructor(kv: KV, nodeId: string) {
    this.#kv = kv;
    this.#node = nodeId;
  }

  /**
   * Opens (creating if needed) `<prefix>_tickets` with max_age = maxTtlMs + 2 x clock skew. An existing
   * bucket with a shorter max_age (a longer ticket lifetime was configured since) is raised, never lowered.
   */
  static async open(nc: NatsConnection, prefix: string, replicas: number, maxTtlMs: number, nodeId: string): Promise<UsedTickets> {
    const name = `${prefix}_tickets`;
    const maxAgeMs = maxTtlMs + 2 * TICKET_CLOCK_SKEW_MS;
    try {
      // Created with the same settings by whichever node comes first; a node configured with another ticket
      // lifetime finds a different max_age and refuses to start, naming both (runtime ensureBucket).
      const kv = await ensureBucket(nc, { bucket: name, replicas, history: 1, maxAgeMs, description: 'Syncmesh used tickets: single use, cluster-wide' });
      return new UsedTickets(kv, nodeId);
    } catch (cause) {
      if (cause instanceof StreamMismatchError) throw cause;
      throw new SocketStartError(`could not open the used-ticket bucket ${name}: is JetStream enabled on the NATS servers?`, { cause });
    }
  }

  /**
   * Marks `claims.jti` used, cluster-wide. Rejects with TicketError('replayed') when it was used before
   * (here or on any node, before or after a restart), TicketStoreError when JetStream cannot answer
   * within USE_BUDGET_MS. A write that failed for another reason is retried; each attempt writes a
   * value of its own, so a write that landed but whose acknowledgement was lost is recognised as ours
   * on the retry, not mistaken for a replay.
   */
  async use(claims: TicketClaims): Promise<void> {
    const mark = `${this.#node} ${randomBytes(6).toString('base64url')}`;
    const value = new TextEncoder().encode(mark);
    const deadline = Date.now() + USE_BUDGET_MS;
    let backoff = FIRST_BACKOFF_MS;
    let retried = false;
    for (;;) {
      try {
        await this.#kv.put(claims.jti, value, { previousSeq: 0, timeout: WRITE_TIMEOUT_MS });
        return;
      } catch (err) {
        if (isWrongSequence(err)) {
          if (retried && (await this.#holds(claims.jti, mark))) return;
          throw new TicketError('replayed', 'ticket was already used; ask the distributor for a new one');
        }
        if (Date.now() + backoff > deadline) {
          throw new TicketStoreError('cannot record the ticket as used (JetStream unavailable); retry through the distributor', { cause: err });
        }
      }
      await new Promise((resolve) => setTimeout(resolve, backoff));
      backoff *= 2;
      retried = true;
    }
  }

  /** Whether the key holds `mark` (our own earlier attempt landed). */
  async #holds(jti: string, mark: string): Promise<boolean> {
    try {
      const e = await this.#kv.get(jti);
      return e !== null && e.operation === 'PUT' && e.string() === mark;
    } catch {
      return false;
    }
  }
}
