/**
 * The node: a process in the cluster. It owns one NATS subscription for envelopes
 * (`<prefix>.node.<id>`), one for replies (`<prefix>.reply.<id>`), membership, the local actor
 * cells, and the lease and snapshot stores. Public API: {@link ActorNode}; this class stays internal.
 *
 * Routing of a message to ref {kind, id, node?}:
 *   node set           explicit actor: sent to that node; not running there -> NoSuchActorError
 *                      (ask) or dropped and counted (tell)
 *   node unset         virtual actor: delivered here if active here; else sent to the rendezvous
 *                      winner of `kind/id` over live, non-draining members hosting the kind. The
 *                      receiver activates it under a KV lease, or forwards to the lease holder.
 *                      No such member: held in host-wait.ts until one appears or the wait ends.
 */
import type { NatsConnection, Subscription } from '@nats-io/nats-core';
import { Kvm, type KV } from '@nats-io/kv';
import type { Logger } from 'pino';
import { PendingAsks, Pending } from './asks.js';
import { decodeMany } from './codec.js';
import { CellStatus, type Cell, type TerminationReason } from './cell.js';
import { kindSpec, type KindSpec } from './define.js';
import {
  askBytes,
  checkEnvelope,
  envelopeBytes,
  envelopeOf,
  errorReplyBytes,
  EXPLICIT,
  F,
  MAX_HOPS,
  MAX_ID_LENGTH,
  NODE_ID_PATTERN,
  okReplyBytes,
  Op,
  replyCorr,
  subjects,
  tellBytes,
  type Envelope,
  type EnvelopeFrame,
  type EnvelopeProblem,
  type Subjects,
} from './envelope.js';
import {
  ActorRuntimeError,
  BadMessageError,
  errorFromWire,
  NodeDownError,
  NoSuchActorError,
  RuntimeConfigError,
  UnavailableError,
  WireCodes,
} from './errors.js';
import { LeaseStore } from './leases.js';
import { defaultLogger, LogLimiter } from './logger.js';
import { HolderFollower } from './follow.js';
import { HostWait, type HeldMessage } from './host-wait.js';
import { Membership } from './membership.js';
import { Outbox } from './outbox.js';
import { hashLanes, pickByRendezvous, pickHashed, type HashLanes } from './placement.js';
import { Counters, LocalActors, type Router } from './local-actors.js';
import { markForReply, replyToOf, ReplyTo, type ReplySink } from './reply.js';
import { SnapshotStore } from './snapshots.js';
import type {
  ActorMessage,
  ActorNode,
  ActorRef,
  AskOptions,
  MemberInfo,
  MembershipEvent,
  NodeOptions,
  RuntimeMetrics,
  SpawnPlacement,
  TerminatedMessage,
} from './types.js';
import { Watches } from './watches.js';

const DEFAULT_ASK_TIMEOUT_MS = 5_000;
/** Defaults of NodeOptions.hostWaitMs / hostWaitCapacity (see docs/runtime.md, "Waiting for a host"). */
export const DEFAULT_HOST_WAIT_MS = 3_000;
export const DEFAULT_HOST_WAIT_CAPACITY = 10_000;

interface Candidate {
  readonly id: string;
  readonly lanes: HashLanes;
}

export class NodeImpl implements ActorNode, ReplySink, Router {
  readonly id: string;
  readonly roles: readonly string[];
  readonly logger: Logger;
  readonly publicNode: ActorNode = this;
  readonly now: () => number;
  private readonly prefix: string;
  private readonly subj: Subjects;
  readonly counters = new Counters();
  private readonly actors: LocalActors;
  private readonly specs: Map<string, KindSpec>;
  private readonly cells: Map<string, Map<string, Cell>>;
  private readonly asks: PendingAsks;
  private readonly outbox = new Outbox((subject, bytes) => this.publishNow(subject, bytes));
  private readonly watches = new Watches();
  private readonly follower: HolderFollower;
  private candidates = new Map<string, Candidate[]>();
  private readonly laneCache = new Map<string, HashLanes>();
  private readonly membership: Membership;
  private readonly badLog = new LogLimiter();
  private readonly deadLog = new LogLimiter();
  private readonly hostWait: HostWait;
  private readonly heartbeatMs: number;
  private readonly downAfterMs: number;
  private subs: Subscription[] = [];
  private fenceTimer: NodeJS.Timeout | undefined;
  fenced = false;
  closing = false;
  closed = false;
  private closePromise: Promise<void> | undefined;

  constructor(
    readonly nats: NatsConnection,
    private readonly ownConnection: boolean,
    private readonly options: NodeOptions,
    id: string,
  ) {
    this.id = id;
    this.roles = Object.freeze([...(options.roles ?? [])]);
    this.prefix = options.prefix ?? 'sm';
    this.subj = subjects(this.prefix);
    this.now = options.now ?? Date.now;
    this.logger = (options.logger ?? defaultLogger()).child({ node: id });
    this.heartbeatMs = options.heartbeatMs ?? 1_000;
    this.downAfterMs = options.downAfterMs ?? 3_000;
    this.actors = new LocalActors(this, (options.kinds ?? []).map(kindSpec));
    this.follower = new HolderFollower((kind, actorId) => this.actors.activeElsewhere(kind, actorId), this.logger);
    this.specs = this.actors.specs;
    this.cells = this.actors.cells;
    this.asks = new PendingAsks(this.now);
    this.hostWait = new HostWait({
      waitMs: options.hostWaitMs ?? DEFAULT_HOST_WAIT_MS,
      capacity: options.hostWaitCapacity ?? DEFAULT_HOST_WAIT_CAPACITY,
      now: this.now,
      onExpired: (h) => this.hostWaitExpired(h),
    });
    this.membership = new Membership({
      nc: nats,
      subject: this.subj.heartbeat,
      self: { nodeId: id, roles: this.roles, kinds: [...this.specs.keys()], meta: { ...(options.meta ?? {}) }, startedAt: Date.now() },
      heartbeatMs: this.heartbeatMs,
      downAfterMs: this.downAfterMs,
      now: this.now,
      logger: this.logger,
      onBadMessage: () => this.counters.badMessages++,
      onOwnEcho: () => {
        if (this.fenced) this.unfence();
      },
    });
  }

  /** Opens the KV buckets, subscribes, and joins the cluster. */
  async start(): Promise<void> {
    const specs = [...this.specs.values()];
    const replicas = this.options.replicas ?? 1;
    if (specs.some((s) => s.virtual || s.persist)) {
      const kvm = new Kvm(this.nats);
      const open = async (name: string): Promise<KV> => {
        try {
          return await kvm.create(name, { history: 1, replicas });
        } catch (err) {
          throw new UnavailableError(
            `could not open JetStream KV bucket ${name}: ${(err as Error).message}. Virtual and persisted actors need a nats-server with JetStream enabled (nats-server -js)`,
            { cause: err },
          );
        }
      };
      const leases = specs.some((s) => s.virtual) ? new LeaseStore(await open(`${this.prefix}_leases`), this.id) : undefined;
      this.actors.leases = leases;
      if (specs.some((s) => s.persist)) {
        this.actors.snapshots = new SnapshotStore(await open(`${this.prefix}_snapshots`), {
          stillOwner: async (cell) => {
            if (!leases || !cell.spec.virtual) return true;
            const h = await leases.holder(cell.key);
            return h !== undefined && h.node === this.id && h.epoch === cell.leaseEpoch;
          },
          fenced: (cell) => this.actors.fenced(cell),
        });
      }
    }
    const maxPayload = this.nats.info?.max_payload;
    if (maxPayload !== undefined && maxPayload < this.outbox.maxBytes) this.outbox.maxBytes = maxPayload;
    this.subs.push(this.nats.subscribe(this.subj.node(this.id), { callback: (err, msg) => (err ? this.onSubError(err) : this.onEnvelopes(msg.data)) }));
    this.subs.push(this.nats.subscribe(this.subj.reply(this.id), { callback: (err, msg) => (err ? this.onSubError(err) : this.onReplies(msg.data)) }));
    this.membership.subscribe((e) => this.onMembershipEvent(e));
    await this.membership.start();
    this.rebuildCandidates();
    this.actors.startSweep();
    this.watchConnection().catch((err: unknown) => this.logger.error({ err }, 'NATS status monitor stopped; self-fencing is off'));
  }

  // ---------------------------------------------------------------- public API

  tell(ref: ActorRef, message: ActorMessage): void {
    const node = ref.node;
    if (node === undefined || node === this.id) {
      const cell = this.cells.get(ref.kind)?.get(ref.id);
      if (cell !== undefined) {
        this.counters.messagesIn++;
        cell.deliver(message);
        return;
      }
    }
    this.tellSlow(ref, message);
  }

  ask<T = unknown>(ref: ActorRef, message: ActorMessage, options?: AskOptions): Promise<T> {
    const timeoutMs = options?.timeoutMs ?? DEFAULT_ASK_TIMEOUT_MS;
    if (this.closing) return Promise.reject(new UnavailableError(`node ${this.id} is closing; ask another node`));
    let node = ref.node;
    if (node === undefined) {
      if (this.cells.get(ref.kind)?.get(ref.id) !== undefined) node = this.id;
      else {
        node = this.place(ref.kind, ref.id);
        if (node === undefined) return this.askWithoutHost(ref, message, timeoutMs);
      }
    } else if (node !== this.id && !this.membership.isLive(node)) {
      return Promise.reject(new NodeDownError(`node ${node} of ${ref.kind}/${ref.id} is not a live member`));
    }
    this.counters.asksSent++;
    const corr = this.asks.corr();
    const target = node;
    return new Promise<T>((resolve, reject) => {
      this.asks.add(new Pending(corr, target, ref, timeoutMs, resolve as (v: unknown) => void, reject));
      if (target === this.id) {
        // A copy: the answer address is keyed by the event object, which the caller may reuse for another ask.
        this.deliverAsk(ref.kind, ref.id, ref.node !== undefined, { ...message }, this.id, corr, 0);
        return;
      }
      let bytes: Uint8Array;
      try {
        bytes = askBytes(ref.kind, ref.id, ref.node !== undefined, message, this.id, corr);
      } catch (err) {
        this.asks.take(corr);
        reject(new BadMessageError(`message ${message.type} to ${ref.kind}/${ref.id} cannot be encoded as MessagePack`, { cause: err }));
        return;
      }
      this.publish(this.subj.node(target), bytes);
    });
  }

  async spawn(kind: string, id: string, placement: SpawnPlacement = {}, args?: unknown): Promise<ActorRef> {
    if (typeof id !== 'string' || id.length > MAX_ID_LENGTH) throw new RuntimeConfigError(`actor id must be a string of at most ${MAX_ID_LENGTH} characters`);
    if (this.closing) throw new UnavailableError(`node ${this.id} is closing; spawn on another node`);
    let node: string | undefined = placement.node;
    if (node === undefined && placement.role !== undefined) {
      const role = placement.role;
      const cands = this.membership.members().filter((m) => !m.draining && m.roles.includes(role) && m.kinds.includes(kind));
      node = pickByRendezvous(`${kind}/${id}`, cands.map((m) => ({ id: m.nodeId, weight: 1 })));
      if (node === undefined) throw new NoSuchActorError(`no live node with role ${role} hosts actor kind ${kind}`);
    }
    if (node === undefined || node === this.id) return this.actors.spawn(kind, id, args);
    if (!this.membership.isLive(node)) throw new NodeDownError(`cannot spawn ${kind}/${id} on node ${node}: it is not a live member`);
    const value = await this.control<{ kind?: unknown; id?: unknown; node?: unknown }>(node, Op.spawn, kind, id, node, args, { kind, id, node });
    if (value?.node !== node) throw new BadMessageError(`node ${node} answered spawn of ${kind}/${id} with an unexpected value`);
    return { kind, id, node };
  }

  async stop(ref: ActorRef): Promise<void> {
    let node = ref.node;
    if (node === undefined) node = this.cells.get(ref.kind)?.get(ref.id) !== undefined ? this.id : this.place(ref.kind, ref.id);
    if (node === undefined) return; // a virtual actor no node hosts is not running anywhere
    if (node === this.id && this.followsHere(ref.kind, ref.id, ref.node !== undefined)) {
      // Placed here but not active here: it may be active at its lease holder (follow.ts).
      const holder = await new Promise<string | undefined>((resolve) => this.follower.follow(ref.kind, ref.id, resolve));
      if (holder !== undefined) {
        this.actors.forgetHolder(ref.kind, ref.id); // it stops there: its next message activates it at its placement
        node = holder;
      }
    }
    if (node === this.id) return this.actors.stop(ref.kind, ref.id, ref.node !== undefined);
    if (!this.membership.isLive(node)) throw new NodeDownError(`node ${node} of ${ref.kind}/${ref.id} is not a live member`);
    await this.control(node, Op.stop, ref.kind, ref.id, ref.node, undefined, ref);
  }

  watch(watcher: ActorRef, target: ActorRef): void {
    const node = this.nodeOfTarget(target);
    if (node === undefined) {
      this.tell(watcher, terminated(target, 'stopped'));
      return;
    }
    if (node === this.id) {
      this.registerWatch(target.kind, target.id, target.node !== undefined, watcher, this.id, 0);
      return;
    }
    this.watches.track(node, watcher, target);
    this.sendControl(node, Op.watch, target, [watcher.kind, watcher.id, watcher.node, this.id]);
  }

  unwatch(watcher: ActorRef, target: ActorRef): void {
    // Where the watch lives: the node it was tracked at (it may have followed a virtual actor), else the target's node.
    const node = this.watches.untrack(watcher, target) ?? this.nodeOfTarget(target);
    if (node === this.id) this.unregisterWatch(target.kind, target.id, target.node !== undefined, watcher, 0);
    else if (node !== undefined) this.sendControl(node, Op.unwatch, target, [watcher.kind, watcher.id, watcher.node]);
  }

  members(): MemberInfo[] {
    return this.membership.members();
  }

  onMembership(listener: (event: MembershipEvent) => void): () => void {
    return this.membership.subscribe(listener);
  }

  announce(update: { meta?: Record<string, string | number | boolean>; draining?: boolean }): void {
    this.membership.announce(update);
  }

  metrics(): RuntimeMetrics {
    const { active, depth } = this.actors.gauges();
    const c = this.counters;
    return {
      messagesIn: c.messagesIn,
      messagesOut: c.messagesOut,
      asksSent: c.asksSent,
      askTimeouts: this.asks.timeouts,
      restarts: c.restarts,
      badMessages: c.badMessages,
      mailboxDropped: c.mailboxDropped,
      deadLetters: c.deadLetters,
      activations: c.activations,
      hostWaits: this.hostWait.heldTotal,
      hostWaitRefused: this.hostWait.refusedTotal,
      hostWaitExpired: this.hostWait.expiredTotal,
      activeActors: active,
      mailboxDepth: depth,
      members: this.membership.size,
      waitingForHost: this.hostWait.size,
    };
  }

  close(): Promise<void> {
    return (this.closePromise ??= this.doClose());
  }

  // ---------------------------------------------------------------- ReplySink

  replyOk(node: string, corr: number, value: unknown): void {
    if (node === this.id) {
      this.asks.take(corr)?.resolve(value);
      return;
    }
    let bytes: Uint8Array;
    try {
      bytes = okReplyBytes(corr, value);
    } catch (err) {
      bytes = errorReplyBytes(corr, WireCodes.badMessage, `the actor's reply could not be encoded as MessagePack: ${(err as Error).message}`);
    }
    this.publish(this.subj.reply(node), bytes);
  }

  replyFail(node: string, corr: number, code: string, message: string, appCode?: string): void {
    if (node === this.id) {
      this.asks.take(corr)?.reject(errorFromWire(code, message, appCode));
      return;
    }
    this.publish(this.subj.reply(node), errorReplyBytes(corr, code, message, appCode));
  }

  // ---------------------------------------------------------------- routing

  isLive(node: string): boolean {
    return this.membership.isLive(node);
  }

  /** The rendezvous winner for virtual `kind/id` among live, non-draining hosts of the kind. */
  private place(kind: string, id: string): string | undefined {
    const cands = this.candidates.get(kind);
    if (cands === undefined || cands.length === 0) return undefined;
    if (cands.length === 1) return cands[0]!.id;
    return pickHashed(hashLanes(`${kind}/${id}`), cands);
  }

  private rebuildCandidates(): void {
    const next = new Map<string, Candidate[]>();
    for (const m of this.membership.members()) {
      if (m.draining) continue;
      let lanes = this.laneCache.get(m.nodeId);
      if (lanes === undefined) this.laneCache.set(m.nodeId, (lanes = hashLanes(m.nodeId)));
      for (const k of m.kinds) {
        let list = next.get(k);
        if (list === undefined) next.set(k, (list = []));
        list.push({ id: m.nodeId, lanes });
      }
    }
    this.candidates = next;
  }

  private noHostError(kind: string): NoSuchActorError {
    return new NoSuchActorError(`no live node hosts actor kind ${kind}; start a node with that kind`);
  }

  // ---------------------------------------------------------------- waiting for a host (host-wait.ts)

  /** An ask to a virtual actor whose kind no live member hosts: it waits for one (or fails at once when waiting is off). */
  private askWithoutHost<T>(ref: ActorRef, message: ActorMessage, timeoutMs: number): Promise<T> {
    if (!this.hostWait.enabled || this.specs.get(ref.kind)?.virtual === false) return Promise.reject(this.noHostError(ref.kind));
    return new Promise<T>((resolve, reject) => {
      const since = this.now();
      const held: HeldMessage = {
        ref,
        message,
        since,
        until: since + Math.min(this.hostWait.waitMs, timeoutMs),
        ask: { deadline: since + timeoutMs, resolve: resolve as (v: unknown) => void, reject },
      };
      const r = this.hostWait.hold(held);
      if (r === 'full') reject(this.hostWaitFull(ref.kind));
      else if (r === 'new-kind') this.logHostWait(ref.kind);
    });
  }

  /** A tell to a virtual actor whose kind no live member hosts: it waits for one, else it is a dead letter. */
  private tellWithoutHost(ref: ActorRef, message: ActorMessage): void {
    if (!this.hostWait.enabled) return this.deadLetter(ref, message, 'no live node hosts the kind');
    const since = this.now();
    const r = this.hostWait.hold({ ref, message, since, until: since + this.hostWait.waitMs });
    if (r === 'full') this.deadLetter(ref, message, this.hostWaitFull(ref.kind).message);
    else if (r === 'new-kind') this.logHostWait(ref.kind);
  }

  private hostWaitFull(kind: string): UnavailableError {
    return new UnavailableError(
      `${this.hostWait.capacity} messages already wait for a node hosting actor kind ${kind}; retry later, and check that a node with that kind is running`,
    );
  }

  private logHostWait(kind: string): void {
    this.logger.info({ kind, waitMs: this.hostWait.waitMs }, `no live node hosts actor kind ${kind}: holding its messages until one joins`);
  }

  private hostWaitExpired(h: HeldMessage): void {
    const waited = this.now() - h.since;
    const text = `no live node hosts actor kind ${h.ref.kind} (waited ${waited} ms for one to join); start a node with that kind`;
    if (h.ask !== undefined) h.ask.reject(new NoSuchActorError(text));
    else this.deadLetter(h.ref, h.message, text);
  }

  /** Membership changed: messages waiting for a kind that now has a live host go out, in arrival order. */
  private releaseHeld(): void {
    for (const kind of [...this.hostWait.kinds()]) {
      const cands = this.candidates.get(kind);
      if (cands === undefined || cands.length === 0) continue;
      const held = this.hostWait.release(kind);
      this.logger.debug({ kind, count: held.length }, `a node hosting actor kind ${kind} joined: routing the messages that waited for it`);
      for (const h of held) this.resend(h);
    }
  }

  private resend(h: HeldMessage): void {
    if (h.ask === undefined) return this.tell(h.ref, h.message);
    const left = h.ask.deadline - this.now();
    if (left <= 0) return this.hostWaitExpired(h); // the sweep had not run yet
    this.ask(h.ref, h.message, { timeoutMs: left }).then(h.ask.resolve, h.ask.reject);
  }

  /** Closing: waiting asks fail (retry elsewhere), waiting tells are dead letters. */
  private dropHeld(): void {
    for (const h of this.hostWait.releaseAll()) {
      const text = `node ${this.id} closed while ${h.ref.kind}/${h.ref.id} waited for a node hosting its kind`;
      if (h.ask !== undefined) h.ask.reject(new UnavailableError(`${text}; ask another node`));
      else this.deadLetter(h.ref, h.message, text);
    }
  }

  private nodeOfTarget(target: ActorRef): string | undefined {
    if (target.node !== undefined) return target.node;
    if (this.cells.get(target.kind)?.get(target.id) !== undefined) return this.id;
    return this.place(target.kind, target.id);
  }

  private tellSlow(ref: ActorRef, message: ActorMessage): void {
    if (this.closed) return this.deadLetter(ref, message, 'node closed');
    const node = ref.node;
    if (node === this.id) return this.deadLetter(ref, message, 'actor not running');
    let target = node;
    if (target === undefined) {
      const spec = this.specs.get(ref.kind);
      if (spec !== undefined && !spec.virtual) return this.deadLetter(ref, message, 'explicit actor not running here (its ref has no node)');
      target = this.place(ref.kind, ref.id);
      if (target === undefined) return this.tellWithoutHost(ref, message);
      if (target === this.id) return this.dispatch(ref.kind, ref.id, false, message, 0);
    } else if (!this.membership.isLive(target)) {
      return this.deadLetter(ref, message, `node ${target} is not a live member`);
    }
    let bytes: Uint8Array;
    try {
      bytes = tellBytes(ref.kind, ref.id, node !== undefined, message);
    } catch (err) {
      this.logger.warn({ err, kind: ref.kind, actor: ref.id, type: message.type }, 'tell dropped: message cannot be encoded as MessagePack');
      this.counters.deadLetters++;
      return;
    }
    this.publish(this.subj.node(target), bytes);
  }

  /**
   * An ask that reached this node for `kind/id`. The hot path: a running actor gets it at once with
   * its answer address on the delivery stack (reply.ts); anything else marks the event and routes it.
   */
  private deliverAsk(kind: string, id: string, explicit: boolean, msg: ActorMessage, replyNode: string, corr: number, hops: number): void {
    const cell = this.cells.get(kind)?.get(id);
    if (cell !== undefined) {
      this.counters.messagesIn++;
      cell.deliverAsk(msg, this, replyNode, corr);
      return;
    }
    markForReply(msg, new ReplyTo(this, replyNode, corr));
    this.dispatch(kind, id, explicit, msg, hops);
  }

  /** A message that reached this node (from the wire or a local sender) for `kind/id`. */
  dispatch(kind: string, id: string, explicit: boolean, msg: ActorMessage, hops: number): void {
    const spec = this.specs.get(kind);
    if (spec === undefined) return this.refuse(msg, WireCodes.noSuchActor, `node ${this.id} does not host actor kind ${kind}`, kind, id);
    const cell = this.cells.get(kind)!.get(id);
    if (cell !== undefined) {
      this.counters.messagesIn++;
      cell.deliver(msg);
      return;
    }
    if (explicit || !spec.virtual) return this.refuse(msg, WireCodes.noSuchActor, `actor ${kind}/${id} is not running on node ${this.id}`, kind, id);
    this.dispatchVirtual(spec, id, msg, hops);
  }

  private dispatchVirtual(spec: KindSpec, id: string, msg: ActorMessage, hops: number): void {
    const kind = spec.kind;
    if (hops > MAX_HOPS) return this.refuse(msg, WireCodes.unavailable, `${kind}/${id} was forwarded ${hops} times without settling; retry`, kind, id);
    if (this.closing || this.fenced) {
      const t = this.place(kind, id);
      if (t !== undefined && t !== this.id) return this.forward(kind, id, msg, t, hops + 1);
      return this.refuse(msg, WireCodes.unavailable, `node ${this.id} is ${this.closing ? 'closing' : 'cut off from NATS'} and no other node hosts ${kind}; retry`, kind, id);
    }
    const holder = this.actors.holderOf(kind, id);
    if (holder !== undefined) {
      if (holder !== this.id && this.membership.isLive(holder)) return this.forward(kind, id, msg, holder, hops + 1);
      this.actors.forgetHolder(kind, id);
    }
    if (hops === 0) {
      // The sender placed it here; if our view of the cluster says otherwise, pass it on once.
      const t = this.place(kind, id);
      if (t !== undefined && t !== this.id) return this.forward(kind, id, msg, t, 1);
    }
    this.actors.activateNew(spec, id, msg, hops);
  }

  forward(kind: string, id: string, msg: ActorMessage, node: string, hops: number): void {
    if (hops > MAX_HOPS) return this.refuse(msg, WireCodes.unavailable, `${kind}/${id} was forwarded ${hops} times without settling; retry`, kind, id);
    const to = replyToOf(msg);
    let bytes: Uint8Array;
    try {
      bytes = to !== undefined ? askBytes(kind, id, false, msg, to.node, to.corr, hops) : tellBytes(kind, id, false, msg, hops);
    } catch (err) {
      return this.refuse(msg, WireCodes.badMessage, `message ${msg.type} cannot be encoded as MessagePack: ${(err as Error).message}`, kind, id);
    }
    if (to !== undefined) to.done = true; // the holder answers now
    this.publish(this.subj.node(node), bytes);
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

  private deadLetter(ref: ActorRef, msg: ActorMessage, why: string): void {
    this.counters.deadLetters++;
    this.deadLog.run(this.now(), (suppressed) =>
      this.logger.debug({ kind: ref.kind, actor: ref.id, type: msg.type, suppressed }, `message dropped: ${why}`),
    );
  }

  /** Node and reply subjects: batched per event loop turn (outbox.ts). */
  private publish(subject: string, bytes: Uint8Array): void {
    this.counters.messagesOut++;
    this.outbox.send(subject, bytes);
  }

  private publishNow(subject: string, bytes: Uint8Array): void {
    try {
      this.nats.publish(subject, bytes);
    } catch (err) {
      this.logger.warn({ err, subject }, 'publish failed: NATS connection closed or draining');
    }
  }

  // ---------------------------------------------------------------- inbound

  private onSubError(err: Error): void {
    this.logger.error({ err }, 'NATS subscription error');
  }

  private onEnvelopes(data: Uint8Array): void {
    const frames = this.decodeFrames(data, 'envelope');
    for (let i = 0; i < frames.length; i++) this.onEnvelope(frames[i]);
  }

  /** The frames of one NATS message; a malformed tail is counted and logged, what came before it is kept. */
  private decodeFrames(data: Uint8Array, what: string): unknown[] {
    try {
      return decodeMany(data);
    } catch (err) {
      this.counters.badMessages++;
      this.badLog.run(this.now(), (suppressed) => this.logger.warn({ suppressed }, `bad ${what} ignored: not MessagePack`));
      const before = (err as { values?: unknown[] }).values;
      return Array.isArray(before) ? before : [];
    }
  }

  /** One envelope frame. Tells and asks are read straight from the decoded array (no object per message). */
  private onEnvelope(raw: unknown): void {
    const bad = checkEnvelope(raw);
    if (bad !== undefined) return this.badEnvelope(bad);
    const f = raw as EnvelopeFrame;
    const opFlags = f[F.op];
    const op = opFlags & ~EXPLICIT;
    if (this.closed) {
      const replyNode = f[F.replyNode];
      const corr = f[F.corr];
      if (replyNode != null && corr != null) this.replyFail(replyNode, corr, WireCodes.unavailable, `node ${this.id} has closed`);
      return;
    }
    const explicit = (opFlags & EXPLICIT) !== 0;
    if (op === Op.ask) {
      this.deliverAsk(f[F.kind], f[F.id], explicit, f[F.body] as ActorMessage, f[F.replyNode]!, f[F.corr]!, f[F.hops] ?? 0);
      return;
    }
    if (op === Op.tell) {
      const msg = f[F.body] as ActorMessage;
      if (msg.type === 'actor.terminated' && this.watches.tracking) this.untrackTerminated(f[F.kind], f[F.id], explicit, msg);
      this.dispatch(f[F.kind], f[F.id], explicit, msg, f[F.hops] ?? 0);
      return;
    }
    const e = envelopeOf(f);
    switch (e.op) {
      case Op.spawn:
        return this.onSpawn(e);
      case Op.stop:
        return this.onStop(e);
      case Op.watch:
      case Op.unwatch:
      case Op.watchMoved:
        return this.onWatch(e);
    }
  }

  private badEnvelope(p: EnvelopeProblem): void {
    this.counters.badMessages++;
    this.badLog.run(this.now(), (suppressed) => this.logger.warn({ problem: p.problem, suppressed }, 'bad envelope ignored'));
    if (p.replyNode !== undefined && p.corr !== undefined) this.replyFail(p.replyNode, p.corr, WireCodes.badMessage, `bad envelope: ${p.problem}`);
  }

  private onReplies(data: Uint8Array): void {
    const frames = this.decodeFrames(data, 'reply');
    for (let i = 0; i < frames.length; i++) this.onReply(frames[i]);
  }

  private onReply(raw: unknown): void {
    const corr = replyCorr(raw);
    if (corr === undefined) {
      this.counters.badMessages++;
      this.badLog.run(this.now(), (suppressed) => this.logger.warn({ suppressed }, 'bad reply ignored'));
      return;
    }
    const p = this.asks.take(corr);
    if (p === undefined) return; // late (timed out) or duplicate
    const f = raw as unknown[];
    if (f.length === 2) p.resolve(f[1]);
    else p.reject(errorFromWire(f[1], f[2], f[3]));
  }

  private onSpawn(e: Envelope): void {
    const replyNode = e.replyNode!;
    const corr = e.corr!;
    try {
      const ref = this.actors.spawn(e.kind, e.id, e.body);
      this.replyOk(replyNode, corr, ref);
    } catch (err) {
      const code = err instanceof ActorRuntimeError ? err.code : WireCodes.badMessage;
      this.replyFail(replyNode, corr, code, (err as Error).message);
    }
  }

  private onStop(e: Envelope): void {
    if (e.hops < MAX_HOPS && this.followsHere(e.kind, e.id, e.explicit)) {
      this.follower.follow(e.kind, e.id, (holder) => {
        if (holder === undefined) return this.stopHere(e);
        this.actors.forgetHolder(e.kind, e.id); // it stops there: its next message activates it at its placement
        this.publish(this.subj.node(holder), envelopeBytes({ ...e, hops: e.hops + 1 }));
      });
      return;
    }
    this.stopHere(e);
  }

  private stopHere(e: Envelope): void {
    this.actors.stop(e.kind, e.id, e.explicit).then(
      () => this.replyOk(e.replyNode!, e.corr!, true),
      (err: unknown) => this.replyFail(e.replyNode!, e.corr!, err instanceof ActorRuntimeError ? err.code : WireCodes.unavailable, (err as Error).message),
    );
  }

  private onWatch(e: Envelope): void {
    const w = e.body;
    if (!Array.isArray(w) || typeof w[0] !== 'string' || typeof w[1] !== 'string' || !isNodeIdOrNil(w[2]) || !isNodeIdOrNil(w[3])) {
      return this.badEnvelope({ problem: 'watch body must be [watcherKind, watcherId, watcherNode?, node?]', replyNode: undefined, corr: undefined });
    }
    const watcher: ActorRef = w[2] == null ? { kind: w[0], id: w[1] } : { kind: w[0], id: w[1], node: w[2] as string };
    const node = (w[3] as string | null | undefined) ?? undefined;
    if (e.op === Op.unwatch) this.unregisterWatch(e.kind, e.id, e.explicit, watcher, e.hops);
    else if (e.op === Op.watch) this.registerWatch(e.kind, e.id, e.explicit, watcher, node, e.hops);
    else if (node !== undefined && !e.explicit) this.onWatchMoved(watcher, { kind: e.kind, id: e.id }, node);
  }

  /** The watch of `watcher` on virtual `target` followed it to `at`: the node-down fallback now depends on `at`. */
  private onWatchMoved(watcher: ActorRef, target: ActorRef, at: string): void {
    if (this.watches.untrack(watcher, target) === undefined) return; // unwatched (or told) meanwhile
    if (this.membership.isLive(at)) this.watches.track(at, watcher, target);
    else this.tell(watcher, terminated(target, 'node-down'));
  }

  /** A watched target's node told our watcher itself: the node-down fallback is no longer needed. */
  private untrackTerminated(kind: string, id: string, explicit: boolean, msg: ActorMessage): void {
    const ref = (msg as Partial<TerminatedMessage>).ref;
    if (ref && typeof ref.kind === 'string' && typeof ref.id === 'string') {
      const watcher: ActorRef = explicit ? { kind, id, node: this.id } : { kind, id };
      const target: ActorRef = typeof ref.node === 'string' ? { kind: ref.kind, id: ref.id, node: ref.node } : { kind: ref.kind, id: ref.id };
      this.watches.untrack(watcher, target);
    }
  }

  // ---------------------------------------------------------------- watches

  /**
   * A watch of local `kind/id`. `tracker` is the node that called watch(): it tells the watcher
   * `node-down` if the node holding the watch goes down, so it hears where the watch moves.
   */
  private registerWatch(kind: string, id: string, explicit: boolean, watcher: ActorRef, tracker: string | undefined, hops: number): void {
    const target: ActorRef = explicit ? { kind, id, node: this.id } : { kind, id };
    if (!this.followsHere(kind, id, explicit)) {
      const cell = this.cells.get(kind)?.get(id);
      if (cell !== undefined && cell.status !== CellStatus.stopped) return this.watches.add(kind, id, watcher);
      this.tell(watcher, terminated(target, 'stopped')); // an explicit actor not running, or a kind not hosted here
      return;
    }
    if (hops >= MAX_HOPS) return this.watches.add(kind, id, watcher);
    // A virtual actor not active here: the watch goes where it is active, else it waits here for
    // its next activation (fires on its next stop, failure or passivation).
    this.follower.follow(kind, id, (holder) => {
      if (holder === undefined || this.cells.get(kind)?.get(id) !== undefined) return this.watches.add(kind, id, watcher);
      this.publish(this.subj.node(holder), envelopeBytes({ op: Op.watch, kind, id, explicit: false, body: [watcher.kind, watcher.id, watcher.node, tracker], replyNode: undefined, corr: undefined, hops: hops + 1 }));
      if (tracker === this.id) this.watches.track(holder, watcher, target);
      else if (tracker !== undefined) this.publish(this.subj.node(tracker), envelopeBytes({ op: Op.watchMoved, kind, id, explicit: false, body: [watcher.kind, watcher.id, watcher.node, holder], replyNode: undefined, corr: undefined, hops: 0 }));
    });
  }

  /** Removes a watch of local `kind/id`; for a virtual actor not active here, also where it is active. */
  private unregisterWatch(kind: string, id: string, explicit: boolean, watcher: ActorRef, hops: number): void {
    this.watches.remove(kind, id, watcher);
    if (hops >= MAX_HOPS || !this.followsHere(kind, id, explicit)) return;
    this.follower.follow(kind, id, (holder) => {
      if (holder !== undefined) this.publish(this.subj.node(holder), envelopeBytes({ op: Op.unwatch, kind, id, explicit: false, body: [watcher.kind, watcher.id, watcher.node], replyNode: undefined, corr: undefined, hops: hops + 1 }));
    });
  }

  /** True for a virtual actor of a kind hosted here that is not active here: stop and watch follow it to its lease holder. */
  private followsHere(kind: string, id: string, explicit: boolean): boolean {
    if (explicit || this.specs.get(kind)?.virtual !== true) return false;
    const cell = this.cells.get(kind)?.get(id);
    return cell === undefined || cell.status === CellStatus.stopped;
  }

  notifyWatchers(cell: Cell, reason: TerminationReason): void {
    for (const w of this.watches.take(cell.spec.kind, cell.id)) this.tell(w, terminated(cell.ref, reason));
  }

  // ---------------------------------------------------------------- control RPC

  private sendControl(node: string, op: typeof Op.watch | typeof Op.unwatch, target: ActorRef, body: unknown): void {
    this.publish(this.subj.node(node), envelopeBytes({ op, kind: target.kind, id: target.id, explicit: target.node !== undefined, body, replyNode: undefined, corr: undefined, hops: 0 }));
  }

  private control<T>(node: string, op: typeof Op.spawn | typeof Op.stop, kind: string, id: string, explicitNode: string | undefined, body: unknown, target: ActorRef): Promise<T> {
    const corr = this.asks.corr();
    return new Promise<T>((resolve, reject) => {
      let bytes: Uint8Array;
      try {
        bytes = envelopeBytes({ op, kind, id, explicit: explicitNode !== undefined, body, replyNode: this.id, corr, hops: 0 });
      } catch (err) {
        reject(new BadMessageError(`arguments for ${kind}/${id} cannot be encoded as MessagePack (only local spawns may pass other values)`, { cause: err }));
        return;
      }
      this.asks.add(new Pending(corr, node, target, DEFAULT_ASK_TIMEOUT_MS, resolve as (v: unknown) => void, reject));
      this.publish(this.subj.node(node), bytes);
    });
  }

  private onMembershipEvent(e: MembershipEvent): void {
    this.rebuildCandidates();
    if (this.hostWait.size > 0 && e.type !== 'down') this.releaseHeld();
    if (e.type !== 'down') return;
    const n = e.member.nodeId;
    const how = e.reason === 'left' ? 'left the cluster' : 'went down';
    this.asks.failNode(n, (p) => new NodeDownError(`node ${n} ${how} before ${p.target.kind}/${p.target.id} answered`));
    for (const pair of this.watches.takeNode(n)) this.tell(pair.watcher, terminated(pair.target, 'node-down'));
    this.actors.forgetNode(n);
  }

  /** Self-fencing: cut off from NATS for downAfterMs/2, this node stops its virtual actors. */
  private async watchConnection(): Promise<void> {
    for await (const s of this.nats.status()) {
      if (s.type === 'disconnect' && this.fenceTimer === undefined && !this.closing) {
        this.fenceTimer = setTimeout(() => this.selfFence(), Math.floor(this.downAfterMs / 2));
      } else if (s.type === 'reconnect') {
        this.unfence();
      }
    }
  }

  private unfence(): void {
    if (this.fenceTimer !== undefined) clearTimeout(this.fenceTimer);
    this.fenceTimer = undefined;
    if (this.fenced) this.logger.info('reconnected to NATS: taking virtual actors again');
    this.fenced = false;
  }

  private selfFence(): void {
    this.fenceTimer = undefined;
    const window = Math.floor(this.downAfterMs / 2);
    // Our own heartbeat came back within the window: the connection is back (status events can lag).
    if (this.closing || this.now() - this.membership.lastEcho < window) return;
    this.fenced = true;
    const n = this.actors.fenceAll();
    this.logger.warn({ stopped: n }, `no NATS connection for ${Math.floor(this.downAfterMs / 2)} ms: stopped local virtual actors so another node can take them (self-fencing)`);
  }

  private async doClose(): Promise<void> {
    this.closing = true;
    if (this.fenceTimer) clearTimeout(this.fenceTimer);
    try {
      this.membership.announce({ draining: true });
      await this.actors.stopAll();
      this.outbox.flush(); // forwards and last answers go out before the leave
      await this.membership.leave();
    } finally {
      this.closed = true;
      this.outbox.flush();
      this.membership.stop();
      this.dropHeld();
      this.asks.failAll((p) => new UnavailableError(`node ${this.id} closed before ${p.target.kind}/${p.target.id} answered`));
      for (const s of this.subs) s.unsubscribe();
      if (this.ownConnection) await this.nats.drain().catch(() => undefined);
      else await this.nats.flush().catch(() => undefined);
      this.logger.info('node closed');
    }
  }
}

function isNodeIdOrNil(v: unknown): boolean {
  return v == null || (typeof v === 'string' && NODE_ID_PATTERN.test(v));
}

function terminated(ref: ActorRef, reason: TerminatedMessage['reason']): TerminatedMessage {
  return { type: 'actor.terminated', ref, reason };
}
