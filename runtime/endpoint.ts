/**
 * The inbound side of a node: its two subscriptions, `<prefix>.node.<id>` (envelopes) and
 * `<prefix>.reply.<id>` (answers to its asks). Each NATS message carries one or more frames
 * (outbox.ts); each frame is checked (envelope.ts) and handed on by op. Nothing a peer sends can
 * stop the node: a frame that is not MessagePack or not of the documented shape is counted
 * (`badMessages`), logged (rate-limited), and answered with `bad_message` when its reply address
 * can be read; the other frames of its message are still handled.
 */
import type { NatsConnection, Subscription } from '@nats-io/nats-core';
import type { Logger } from 'pino';
import type { PendingAsks } from './asks.js';
import type { Clock } from './clock.js';
import { decodeMany } from './codec.js';
import { checkEnvelope, envelopeOf, EXPLICIT, F, Op, replyCorr, type Envelope, type EnvelopeFrame, type EnvelopeProblem } from './envelope.js';
import { errorFromWire, WireCodes } from './errors.js';
import { LogLimiter } from './logger.js';
import type { Counters } from './local-actors.js';
import type { Sender } from './sender.js';
import type { NodeLife } from './shutdown.js';
import { TimeSlices } from './time-slices.js';
import type { ActorMessage } from './types.js';

/** Where checked envelopes go, by op. */
export interface InboundHandlers {
  ask(kind: string, id: string, explicit: boolean, msg: ActorMessage, replyNode: string, corr: number, hops: number, deadline: number): void;
  tell(kind: string, id: string, explicit: boolean, msg: ActorMessage, hops: number): void;
  spawn(e: Envelope): void;
  stop(e: Envelope): void;
  watch(e: Envelope): void;
}

export interface EndpointDeps {
  readonly id: string;
  readonly nats: NatsConnection;
  readonly logger: Logger;
  readonly clock: Clock;
  readonly counters: Counters;
  readonly asks: PendingAsks;
  readonly sender: Sender;
  readonly life: NodeLife;
  readonly handlers: InboundHandlers;
}

export class Endpoint {
  private readonly badLog = new LogLimiter();
  private subs: Subscription[] = [];
  /**
   * Envelope frames in time slices (time-slices.ts), one frame a piece (a NATS message can carry
   * hundreds): a node that fell behind handles its backlog without stopping its loop. Replies are
   * handled at once: they only settle this node's own asks, and one left waiting while the timers
   * run would expire with its answer in hand.
   */
  private readonly envelopes = new TimeSlices<unknown>((frame) => this.onEnvelope(frame), {
    onError: (err) => this.d.logger.error({ err }, 'handling an envelope failed'),
  });

  constructor(private readonly d: EndpointDeps) {}

  /** Envelope frames received and not handled yet (the node is behind). */
  get backlog(): number {
    return this.envelopes.pending;
  }

  /** Subscribes to the node's envelope and reply subjects. */
  open(): void {
    const { nats, sender, id } = this.d;
    this.subs.push(nats.subscribe(sender.subj.node(id), { callback: (err, msg) => (err ? this.onSubError(err) : this.onEnvelopes(msg.data)) }));
    this.subs.push(nats.subscribe(sender.subj.reply(id), { callback: (err, msg) => (err ? this.onSubError(err) : this.onReplies(msg.data)) }));
  }

  close(): void {
    for (const s of this.subs) s.unsubscribe();
    this.subs = [];
  }

  /** A frame that is not of the documented shape: counted, logged, answered when it has a reply address. */
  bad(p: EnvelopeProblem): void {
    this.d.counters.badMessages++;
    this.badLog.run(this.d.clock.now(), (suppressed) => this.d.logger.warn({ problem: p.problem, suppressed }, 'bad envelope ignored'));
    if (p.replyNode !== undefined && p.corr !== undefined) this.d.sender.replyFail(p.replyNode, p.corr, WireCodes.badMessage, `bad envelope: ${p.problem}`);
  }

  private onSubError(err: Error): void {
    this.d.logger.error({ err }, 'NATS subscription error');
  }

  private onEnvelopes(data: Uint8Array): void {
    const frames = this.decodeFrames(data, 'envelope');
    for (let i = 0; i < frames.length; i++) this.envelopes.push(frames[i]);
  }

  /** The frames of one NATS message; a malformed tail is counted and logged, what came before it is kept. */
  private decodeFrames(data: Uint8Array, what: string): unknown[] {
    try {
      return decodeMany(data);
    } catch (err) {
      this.d.counters.badMessages++;
      this.badLog.run(this.d.clock.now(), (suppressed) => this.d.logger.warn({ suppressed }, `bad ${what} ignored: not MessagePack`));
      const before = (err as { values?: unknown[] }).values;
      return Array.isArray(before) ? before : [];
    }
  }

  /** One envelope frame. Tells and asks are read straight from the decoded array (no object per message). */
  private onEnvelope(raw: unknown): void {
    const bad = checkEnvelope(raw);
    if (bad !== undefined) return this.bad(bad);
    const f = raw as EnvelopeFrame;
    const opFlags = f[F.op];
    const op = opFlags & ~EXPLICIT;
    const h = this.d.handlers;
    if (this.d.life.closed) {
      const replyNode = f[F.replyNode];
      const corr = f[F.corr];
      if (replyNode != null && corr != null) this.d.sender.replyFail(replyNode, corr, WireCodes.unavailable, `node ${this.d.id} has closed`);
      return;
    }
    const explicit = (opFlags & EXPLICIT) !== 0;
    if (op === Op.ask) return h.ask(f[F.kind], f[F.id], explicit, f[F.body] as ActorMessage, f[F.replyNode]!, f[F.corr]!, f[F.hops] ?? 0, f[F.deadline] ?? 0);
    if (op === Op.tell) return h.tell(f[F.kind], f[F.id], explicit, f[F.body] as ActorMessage, f[F.hops] ?? 0);
    const e = envelopeOf(f);
    switch (e.op) {
      case Op.spawn:
        return h.spawn(e);
      case Op.stop:
        return h.stop(e);
      case Op.watch:
      case Op.unwatch:
      case Op.watchMoved:
        return h.watch(e);
    }
  }

  private onReplies(data: Uint8Array): void {
    const frames = this.decodeFrames(data, 'reply');
    for (let i = 0; i < frames.length; i++) this.onReply(frames[i]);
  }

  private onReply(raw: unknown): void {
    const corr = replyCorr(raw);
    if (corr === undefined) {
      this.d.counters.badMessages++;
      this.badLog.run(this.d.clock.now(), (suppressed) => this.d.logger.warn({ suppressed }, 'bad reply ignored'));
      return;
    }
    const p = this.d.asks.take(corr);
    if (p === undefined) {
      this.d.counters.strayReplies++; // late (timed out), duplicate, or forged
      return;
    }
    const f = raw as unknown[];
    if (f.length === 2) p.resolve(f[1]);
    else p.reject(errorFromWire(f[1], f[2], f[3]));
  }
}
