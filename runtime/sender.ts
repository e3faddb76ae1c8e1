/**
 * The outbound side of the node's endpoint: every envelope and answer this node sends goes through
 * here, batched per event loop turn (outbox.ts). It is also where answers to asks go
 * ({@link ReplySink}): an ask from this node is settled in place, one from another node is
 * published to that node's reply subject.
 */
import type { NatsConnection } from '@nats-io/nats-core';
import type { Logger } from 'pino';
import type { PendingAsks } from './asks.js';
import { envelopeBytes, errorReplyBytes, okReplyBytes, type Envelope, type Subjects } from './envelope.js';
import { errorFromWire, WireCodes } from './errors.js';
import type { Counters } from './local-actors.js';
import { Outbox } from './outbox.js';
import type { ReplySink } from './reply.js';

export class Sender implements ReplySink {
  private readonly outbox = new Outbox((subject, bytes) => this.publishNow(subject, bytes));

  constructor(
    private readonly nats: NatsConnection,
    private readonly selfId: string,
    readonly subj: Subjects,
    private readonly counters: Counters,
    private readonly asks: PendingAsks,
    private readonly logger: Logger,
  ) {}

  /** Lowers the batch size to the server's max_payload when that is smaller. */
  fitTo(maxPayload: number | undefined): void {
    if (maxPayload !== undefined && maxPayload < this.outbox.maxBytes) this.outbox.maxBytes = maxPayload;
  }

  /** A frame to `node`'s inbound subject. */
  toNode(node: string, bytes: Uint8Array): void {
    this.counters.messagesOut++;
    this.outbox.send(this.subj.node(node), bytes);
  }

  /** A control envelope (spawn, stop, watch...) to `node`. Throws when its body cannot be encoded. */
  envelope(node: string, e: Envelope): void {
    this.toNode(node, envelopeBytes(e));
  }

  replyOk(node: string, corr: number, value: unknown): void {
    if (node === this.selfId) {
      this.asks.take(corr)?.resolve(value);
      return;
    }
    let bytes: Uint8Array;
    try {
      bytes = okReplyBytes(corr, value);
    } catch (err) {
      bytes = errorReplyBytes(corr, WireCodes.badMessage, `the actor's reply could not be encoded as MessagePack: ${(err as Error).message}`);
    }
    this.counters.messagesOut++;
    this.outbox.send(this.subj.reply(node), bytes);
  }

  replyFail(node: string, corr: number, code: string, message: string, appCode?: string): void {
    if (node === this.selfId) {
      this.asks.take(corr)?.reject(errorFromWire(code, message, appCode));
      return;
    }
    this.counters.messagesOut++;
    this.outbox.send(this.subj.reply(node), errorReplyBytes(corr, code, message, appCode));
  }

  /** Publishes what waits now (before a leave, and before the connection drains). */
  flush(): void {
    this.outbox.flush();
  }

  private publishNow(subject: string, bytes: Uint8Array): void {
    try {
      this.nats.publish(subject, bytes);
    } catch (err) {
      this.logger.warn({ err, subject }, 'publish failed: NATS connection closed or draining');
    }
  }
}
