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
import { JetStreamApiCodes, JetStreamApiError, jetstreamManager } from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/nats-core';
import { TicketError, type TicketClaims } from '../ticket.js';
import { SocketStartError } from './errors.js';

/** Clock skew allowed between the distributor that signs a ticket and the socket node that checks it. */
export const TICKET_CLOCK_SKEW_MS = 5_000;

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
  readonly #node: Uint8Array;

  private constructor(kv: KV, nodeId: string) {
    this.#kv = kv;
    this.#node = new TextEncoder().encode(nodeId);
  }

  /**
   * Opens (creating if needed) `<prefix>_tickets` with max_age = maxTtlMs + 2 x clock skew. An existing
   * bucket with a shorter max_age (a longer ticket lifetime was configured since) is raised, never lowered.
   */
  static async open(nc: NatsConnection, prefix: string, replicas: number, maxTtlMs: number, nodeId: string): Promise<UsedTickets> {
    const name = `${prefix}_tickets`;
    const maxAgeMs = maxTtlMs + 2 * TICKET_CLOCK_SKEW_MS;
    try {
      const kv = await new Kvm(nc).create(name, { history: 1, replicas, ttl: maxAgeMs });
      const status = await kv.status();
      if (status.ttl < maxAgeMs) {
        const jsm = await jetstreamManager(nc);
        const info = await jsm.streams.info(status.streamInfo.config.name);
        await jsm.streams.update(info.config.name, { ...info.config, max_age: maxAgeMs * 1_000_000 });
      }
      return new UsedTickets(kv, nodeId);
    } catch (cause) {
      throw new SocketStartError(`could not open the used-ticket bucket ${name}: is JetStream enabled on the NATS servers?`, { cause });
    }
  }

  /**
   * Marks `claims.jti` used, cluster-wide. Rejects with TicketError('replayed') when it was used before
   * (here or on any node, before or after a restart), TicketStoreError when JetStream cannot answer.
   */
  async use(claims: TicketClaims): Promise<void> {
    try {
      await this.#kv.put(claims.jti, this.#node, { previousSeq: 0 });
    } catch (err) {
      if (isWrongSequence(err)) throw new TicketError('replayed', 'ticket was already used; ask the distributor for a new one');
      throw new TicketStoreError('cannot record the ticket as used (JetStream unavailable); retry through the distributor', { cause: err });
    }
  }
}
