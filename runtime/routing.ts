/**
 * Routing of messages to actors: where a tell or ask goes, delivery to a local cell, and forwarding
 * of virtual actors between nodes.
 *
 *   ref.node set      explicit actor: sent to that node; not running there -> NoSuchActorError
 *                     (ask) or dropped and counted (tell)
 *   ref.node unset    virtual actor: delivered here if active here; else sent to the rendezvous
 *                     winner of `kind/id` over live, non-draining members hosting the kind
 *                     (candidates.ts). The receiver activates it under a KV lease, or forwards it
 *                     to the lease holder. No such member: held until one appears (waiting.ts).
 */
import type { Logger } from 'pino';
import { Pending, type PendingAsks } from './asks.js';
import type { Candidates } from './candidates.js';
import { CellStatus, type Cell } from './cell.js';
import type { Clock } from './clock.js';
import type { KindSpec } from './define.js';
import { offerInactive } from './inactive.js';
import { askBytes, MAX_HOPS, tellBytes } from './envelope.js';
import { BadMessageError, NodeDownError, UnavailableError, WireCodes } from './errors.js';
import { LogLimiter } from './logger.js';
import type { Counters, LocalActors } from './local-actors.js';
import { askExpired, markForReply, pastDeadline, replyToOf, ReplyTo } from './reply.js';
import type { Sender } from './sender.js';
import type { NodeLife } from './shutdown.js';
import type { ActorMessage, ActorRef } from './types.js';
import type { Waiting } from './waiting.js';

export const DEFAULT_ASK_TIMEOUT_MS = 5_000;

export interface RoutingDeps {
  readonly id: string;
  readonly logger: Logger;
  readonly clock: Clock;
  readonly counters: Counters;
  readonly actors: LocalActors;
  readonly candidates: Candidates;
  readonly asks: PendingAsks;
  readonly sender: Sender;
  readonly life: NodeLife;
  isLive(node: string): boolean;
  /** Messages to a kind no live member hosts (set once the waiting room exists). */
  waiting(): Waiting;
  /** NodeOptions.onRemoteAsk: told the round trip of each ask to another node. */
  readonly onRemoteAsk: ((seconds: number, answered: boolean) => void) | undefined;
}

export class Routing {
  private readonly specs: Map<string, KindSpec>;
  private readonly cells: Map<string, Map<string, Cell>>;
  private readonly deadLog = new LogLimiter();

  constructor(private readonly d: RoutingDeps) {
    this.specs = d.actors.specs;
    this.cells = d.actors.cells;
  }

  /** The local cell of `kind/id`, if one exists (any status). */
  cell(kind: string, id: string): Cell | undefined {
    return this.cells.get(kind)?.get(id);
  }

  /** The node a control request (stop, watch) for `target` goes to: its own, here if active here, else its placement. */
  nodeOfTarget(target: ActorRef): string | undefined {
    if (target.node !== undefined) return target.node;
    if (this.cell(target.kind, target.id) !== undefined) return this.d.id;
    return this.d.candidates.place(target.kind, target.id);
  }

  /** True for a virtual actor of a kind hosted here that is not active here: stop and watch follow it to its lease holder. */
  followsHere(kind: string, id: string, explicit: boolean): boolean {
    if (explicit || this.specs.get(kind)?.virtual !== true) return false;
    const cell = this.cell(kind, id);
    return cell === undefined || cell.status === CellStatus.stopped;
  }

  /** A tell whose target is not a local cell (the node's tell() tried that first). */
  tellSlow(ref: ActorRef, message: ActorMessage): void {
    const d = this.d;
    if (d.life.closed) return this.deadLetter(ref, message, 'node closed');
    const node = ref.node;
    if (node === d.id) return this.deadLetter(ref, message, 'actor not running');
    let target = node;
    if (target === undefined) {
      const spec = this.specs.get(ref.kind);
      if (spec !== undefined && !spec.virtual) return this.deadLetter(ref, message, 'explicit actor not running here (its ref has no node)');
      target = d.candidates.place(ref.kind, ref.id);
      if (target === undefined) return d.waiting().holdTell(ref, message);
      if (target === d.id) return this.dispatch(ref.kind, ref.id, false, message, 0);
    } else if (!d.isLive(target)) {
      return this.deadLetter(ref, message, `node ${target} is not a live member`);
    }
    let bytes: Uint8Array;
    try {
      bytes = tellBytes(ref.kind, ref.id, node !== undefined, message);
    } catch (err) {
      d.logger.warn({ err, kind: ref.kind, actor: ref.id, type: message.type }, 'tell dropped: message cannot be encoded as MessagePack');
      d.counters.deadLetters++;
      return;
    }
    d.sender.toNode(target, bytes);
  }

  ask<T>(ref: ActorRef, message: ActorMessage, timeoutMs: number): Promise<T> {
    const d = this.d;
    if (d.life.closing) return Promise.reject(new UnavailableError(`node ${d.id} is closing; ask another node`));
    let node = ref.node;
    if (node === undefined) {
      if (this.cell(ref.kind, ref.id) !== undefined) node = d.id;
      else {
        node = d.candidates.place(ref.kind, ref.id);
        if (node === undefined) return d.waiting().holdAsk<T>(ref, message, timeoutMs, this.specs.get(ref.kind)?.virtual === false);
      }
    } else if (node !== d.id && !d.isLive(node)) {
      return Promise.reject(new NodeDownError(`node ${node} of ${ref.kind}/${ref.id} is not a live member`));
    }
    d.counters.asksSent++;
    const corr = d.asks.corr();
    const target = node;
    const deadline = Date.now() + timeoutMs;
    return new Promise<T>((resolve, reject) => {
      const observe = d.onRemoteAsk;
      if (observe !== undefined && target !== d.id) {
        // Timed only when someone listens (the node program's metrics): two closures per remote ask.
        const t0 = performance.now();
        const done = resolve as (v: unknown) => void;
        const settled = (answered: boolean): void => observe((performance.now() - t0) / 1000, answered);
        d.asks.add(new Pending(corr, target, ref, timeoutMs, (v) => (settled(true), done(v)), (e) => (settled(false), reject(e))));
      } else d.asks.add(new Pending(corr, target, ref, timeoutMs, resolve as (v: unknown) => void, reject));
      if (target === d.id) {
        // A copy: the answer address is keyed by the event object, which the caller may reuse for another ask.
        this.deliverAsk(ref.kind, ref.id, ref.node !== undefined, { ...message }, d.id, corr, 0, deadline);
        return;
      }
      let bytes: Uint8Array;
      try {
        bytes = askBytes(ref.kind, ref.id, ref.node !== undefined, message, d.id, corr, 0, deadline);
      } catch (err) {
        d.asks.take(corr);
        reject(new BadMessageError(`message ${message.type} to ${ref.kind}/${ref.id} cannot be encoded as MessagePack`, { cause: err }));
        return;
      }
      d.sender.toNode(target, bytes);
    });
  }

  /**
   * An ask that reached this node for `kind/id`. The hot path: a running actor gets it at once with
   * its answer address on the delivery stack (reply.ts); anything else marks the event and routes it.
   */
  deliverAsk(kind: string, id: string, explicit: boolean, msg: ActorMessage, replyNode: string, corr: number, hops: number, deadline = 0): void {
    if (pastDeadline(deadline)) {
      // It waited in a socket buffer or a paused process while its asker gave up (reply.ts askExpired).
      this.d.counters.asksExpired++;
      this.d.sender.replyFail(replyNode, corr, WireCodes.timeout, `the ask arrived past its deadline (${Date.now() - deadline} ms late) and was not run; the asker had given up`);
      return;
    }
    const cell = this.cells.get(kind)?.get(id);
    if (cell !== undefined) {
      this.d.counters.messagesIn++;
      cell.deliverAsk(msg, this.d.sender, replyNode, corr, deadline);
      return;
    }
    markForReply(msg, new ReplyTo(this.d.sender, replyNode, corr, deadline));
    this.dispatch(kind, id, explicit, msg, hops);
  }

  /** A message that reached this node (from the wire or a local sender) for `kind/id`. */
  dispatch(kind: string, id: string, explicit: boolean, msg: ActorMessage, hops: number, offer = true): void {
    const spec = this.specs.get(kind);
    if (spec === undefined) return this.refuse(msg, WireCodes.noSuchActor, `node ${this.d.id} does not host actor kind ${kind}`, kind, id);
    const cell = this.cells.get(kind)!.get(id);
    if (cell !== undefined) {
      this.d.counters.messagesIn++;
      cell.deliver(msg);
      return;
    }
    if (explicit || !spec.virtual) return this.refuse(msg, WireCodes.noSuchActor, `actor ${kind}/${id} is not running on node ${this.d.id}`, kind, id);
    this.dispatchVirtual(spec, id, msg, hops, offer);
  }

  private dispatchVirtual(spec: KindSpec, id: string, msg: ActorMessage, hops: number, offer: boolean): void {
    const d = this.d;
    const kind = spec.kind;
    if (hops > MAX_HOPS) return this.refuse(msg, WireCodes.unavailable, `${kind}/${id} was forwarded ${hops} times without settling; retry`, kind, id);
    if (d.life.closing || d.life.fenced) {
      const t = d.candidates.place(kind, id);
      if (t !== undefined && t !== d.id) return this.forward(kind, id, msg, t, hops + 1);
      return this.refuse(msg, WireCodes.unavailable, `node ${d.id} is ${d.life.closing ? 'closing' : 'cut off from NATS'} and no other node hosts ${kind}; retry`, kind, id);
    }
    const holder = d.actors.holderOf(kind, id);
    if (holder !== undefined) {
      if (holder !== d.id && d.isLive(holder)) return this.forward(kind, id, msg, holder, hops + 1);
      d.actors.forgetHolder(kind, id);
    }
    if (hops === 0) {
      // The sender placed it here; if our view of the cluster says otherwise, pass it on once.
      const t = d.candidates.place(kind, id);
      if (t !== undefined && t !== d.id) return this.forward(kind, id, msg, t, 1);
    }
    // The kind may answer it without an activation (a read of durable state); else, or once it passes
    // it on, routed again from the top: another message may have activated the actor meanwhile.
    if (offer && offerInactive(spec, id, msg, d.counters, d.logger, () => this.dispatch(kind, id, false, msg, hops, false))) return;
    d.actors.activateNew(spec, id, msg, hops);
  }

  forward(kind: string, id: string, msg: ActorMessage, node: string, hops: number): void {
    if (hops > MAX_HOPS) return this.refuse(msg, WireCodes.unavailable, `${kind}/${id} was forwarded ${hops} times without settling; retry`, kind, id);
    if (askExpired(msg)) {
      this.d.counters.asksExpired++;
      return;
    }
    const to = replyToOf(msg);
    let bytes: Uint8Array;
    try {
      bytes = to !== undefined ? askBytes(kind, id, false, msg, to.node, to.corr, hops, to.deadline) : tellBytes(kind, id, false, msg, hops);
    } catch (err) {
      return this.refuse(msg, WireCodes.badMessage, `message ${msg.type} cannot be encoded as MessagePack: ${(err as Error).message}`, kind, id);
    }
    if (to !== undefined) to.done = true; // the holder answers now
    this.d.sender.toNode(node, bytes);
  }

  /** Fails an ask with `code`, or drops and counts a tell. */
  refuse(msg: ActorMessage, code: string, text: string, kind: string, id: string): void {
    const to = replyToOf(msg);
    if (to !== undefined) {
      to.fail(code, text);
      return;
    }
    this.deadLetter({ kind, id }, msg, text);
  }

  deadLetter(ref: ActorRef, msg: ActorMessage, why: string): void {
    this.d.counters.deadLetters++;
    this.deadLog.run(this.d.clock.now(), (suppressed) =>
      this.d.logger.debug({ kind: ref.kind, actor: ref.id, type: msg.type, suppressed }, `message dropped: ${why}`),
    );
  }
}
