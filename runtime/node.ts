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
 */
import { connect } from '@nats-io/transport-node';
import type { NatsConnection, Subscription } from '@nats-io/nats-core';
import { Kvm, type KV } from '@nats-io/kv';
import type { Logger } from 'pino';
import type { Snapshot } from 'xstate';
import { PendingAsks, Pending } from './asks.js';
import { Cell, CellStatus, type CellHost, type TerminationReason } from './cell.js';
import { kindSpec, type KindSpec } from './define.js';
import {
  askBytes,
  envelopeBytes,
  errorReplyBytes,
  isProblem,
  MAX_HOPS,
  MAX_ID_LENGTH,
  NODE_ID_PATTERN,
  okReplyBytes,
  Op,
  readEnvelope,
  readReply,
  subjects,
  tellBytes,
  type Envelope,
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
import { actorKey, LeaseStore } from './leases.js';
import { defaultLogger, LogLimiter } from './logger.js';
import { Membership } from './membership.js';
import { hashLanes, pickByRendezvous, pickHashed, type HashLanes } from './placement.js';
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
import { targetKey, Watches } from './watches.js';

const DEFAULT_ASK_TIMEOUT_MS = 5_000;
const FORWARD_CACHE_MAX = 10_000;

class Counters {
  messagesIn = 0;
  messagesOut = 0;
  asksSent = 0;
  restarts = 0;
  badMessages = 0;
  mailboxDropped = 0;
  deadLetters = 0;
  activations = 0;
}

interface Candidate {
  readonly id: string;
  readonly lanes: HashLanes;
}

export class NodeImpl implements ActorNode, CellHost, ReplySink {
  readonly id: string;
  readonly roles: readonly string[];
  readonly logger: Logger;
  readonly publicNode: ActorNode = this;
  readonly now: () => number;
  private readonly prefix: string;
  private readonly subj: Subjects;
  private readonly specs = new Map<string, KindSpec>();
  private readonly cells = new Map<string, Map<string, Cell>>();
  private readonly asks: PendingAsks;
  private readonly counters = new Counters();
  private readonly watches = new Watches();
  private readonly forwardCache = new Map<string, string>();
  private candidates = new Map<string, Candidate[]>();
  private readonly laneCache = new Map<string, HashLanes>();
  private readonly membership: Membership;
  private readonly badLog = new LogLimiter();
  private readonly deadLog = new LogLimiter();
  private readonly heartbeatMs: number;
  private readonly downAfterMs: number;
  private leases: LeaseStore | undefined;
  private snapshots: SnapshotStore | undefined;
  private subs: Subscription[] = [];
  private sweepTimer: NodeJS.Timeout | undefined;
  private fenceTimer: NodeJS.Timeout | undefined;
  private fenced = false;
  private closing = false;
  private closed = false;
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
    for (const k of options.kinds ?? []) {
      if (this.specs.has(k.kind)) throw new RuntimeConfigError(`actor kind ${k.kind} is given twice to node ${id}`);
      this.specs.set(k.kind, kindSpec(k));
      this.cells.set(k.kind, new Map());
    }
    this.asks = new PendingAsks(this.now);
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
      if (specs.some((s) => s.virtual)) this.leases = new LeaseStore(await open(`${this.prefix}_leases`), this.id);
      if (specs.some((s) => s.persist)) {
        this.snapshots = new SnapshotStore(await open(`${this.prefix}_snapshots`), this.logger, {
          stillOwner: async (cell) => {
            if (!this.leases || !cell.spec.virtual) return true;
            const h = await this.leases.holder(cell.key);
            return h !== undefined && h.node === this.id && h.epoch === cell.leaseEpoch;
          },
          fenced: (cell) => {
            cell.leaseRev = 0;
            cell.persisting = 1;
            void this.stopCell(cell, 'stopped');
          },
        });
      }
    }
    this.subs.push(this.nats.subscribe(this.subj.node(this.id), { callback: (err, msg) => (err ? this.onSubError(err) : this.onEnvelope(msg.data)) }));
    this.subs.push(this.nats.subscribe(this.subj.reply(this.id), { callback: (err, msg) => (err ? this.onSubError(err) : this.onReply(msg.data)) }));
    this.membership.subscribe((e) => this.onMembershipEvent(e));
    await this.membership.start();
    this.rebuildCandidates();
    this.startSweep();
    void this.watchConnection();
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
        if (node === undefined) return Promise.reject(this.noHostError(ref.kind));
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
        // A copy: the mark must not stick to an object the caller may reuse for another ask.
        const event = markForReply({ ...message }, new ReplyTo(this, this.id, corr));
        this.dispatch(ref.kind, ref.id, ref.node !== undefined, event, 0);
        return;
      }
      let bytes: Uint8Array;
      try {
        bytes = askBytes(ref.kind, ref.id, ref.node, message, this.id, corr);
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
    if (node === undefined || node === this.id) return this.spawnLocal(kind, id, args);
    if (!this.membership.isLive(node)) throw new NodeDownError(`cannot spawn ${kind}/${id} on node ${node}: it is not a live member`);
    const value = await this.control<{ kind?: unknown; id?: unknown; node?: unknown }>(node, Op.spawn, kind, id, node, args, { kind, id, node });
    if (value?.node !== node) throw new BadMessageError(`node ${node} answered spawn of ${kind}/${id} with an unexpected value`);
    return { kind, id, node };
  }

  async stop(ref: ActorRef): Promise<void> {
    let node = ref.node;
    if (node === undefined) node = this.cells.get(ref.kind)?.get(ref.id) !== undefined ? this.id : this.place(ref.kind, ref.id);
    if (node === undefined) return; // a virtual actor no node hosts is not running anywhere
    if (node === this.id) return this.stopLocal(ref.kind, ref.id, ref.node !== undefined);
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
      this.registerWatch(target.kind, target.id, target.node !== undefined, watcher, 0);
      return;
    }
    this.watches.track(node, watcher, target);
    this.sendControl(node, Op.watch, target, [watcher.kind, watcher.id, watcher.node]);
  }

  unwatch(watcher: ActorRef, target: ActorRef): void {
    this.watches.untrack(watcher, target);
    const node = this.nodeOfTarget(target);
    if (node === this.id) this.watches.remove(target.kind, target.id, watcher);
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
    let active = 0;
    let depth = 0;
    for (const m of this.cells.values()) {
      for (const c of m.values()) {
        if (c.status === CellStatus.running) active++;
        depth += c.queued;
      }
    }
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
      activeActors: active,
      mailboxDepth: depth,
      members: this.membership.size,
    };
  }

  close(): Promise<void> {
    return (this.closePromise ??= this.doClose());
  }

  // ---------------------------------------------------------------- CellHost

  onOverflow(cell: Cell, message: ActorMessage): void {
    this.counters.mailboxDropped++;
    const to = replyToOf(message);
    if (to !== undefined) {
      to.fail(WireCodes.mailboxFull, `mailbox of ${cell.spec.kind}/${cell.id} is full (capacity ${cell.spec.capacity}); slow down or raise mailbox.capacity`);
    }
  }

  onProcessed(cell: Cell): void {
    this.snapshots?.schedule(cell);
  }

  onGiveUp(cell: Cell, reason: TerminationReason): void {
    void this.stopCell(cell, reason);
  }

  restartSnapshot(cell: Cell): Promise<Snapshot<unknown> | undefined> {
    return cell.spec.persist && this.snapshots ? this.snapshots.load(cell) : Promise.resolve(undefined);
  }

  countRestart(): void {
    this.counters.restarts++;
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
      if (target === undefined) return this.deadLetter(ref, message, 'no live node hosts the kind');
      if (target === this.id) return this.dispatch(ref.kind, ref.id, false, message, 0);
    } else if (!this.membership.isLive(target)) {
      return this.deadLetter(ref, message, `node ${target} is not a live member`);
    }
    let bytes: Uint8Array;
    try {
      bytes = tellBytes(ref.kind, ref.id, node, message);
    } catch (err) {
      this.logger.warn({ err, kind: ref.kind, actor: ref.id, type: message.type }, 'tell dropped: message cannot be encoded as MessagePack');
      this.counters.deadLetters++;
      return;
    }
    this.publish(this.subj.node(target), bytes);
  }

  /** A message that reached this node (from the wire or a local sender) for `kind/id`. */
  private dispatch(kind: string, id: string, explicit: boolean, msg: ActorMessage, hops: number): void {
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
    const fk = targetKey(kind, id);
    const holder = this.forwardCache.get(fk);
    if (holder !== undefined) {
      if (holder !== this.id && this.membership.isLive(holder)) return this.forward(kind, id, msg, holder, hops + 1);
      this.forwardCache.delete(fk);
    }
    if (hops === 0) {
      // The sender placed it here; if our view of the cluster says otherwise, pass it on once.
      const t = this.place(kind, id);
      if (t !== undefined && t !== this.id) return this.forward(kind, id, msg, t, 1);
    }
    const ref: ActorRef = { kind, id };
    const cell = new Cell(this, spec, id, ref, actorKey(kind, id), undefined);
    this.cells.get(kind)!.set(id, cell);
    this.counters.messagesIn++;
    cell.enqueue(msg);
    cell.activation = this.activate(cell, hops);
  }

  private forward(kind: string, id: string, msg: ActorMessage, node: string, hops: number): void {
    if (hops > MAX_HOPS) return this.refuse(msg, WireCodes.unavailable, `${kind}/${id} was forwarded ${hops} times without settling; retry`, kind, id);
    const to = replyToOf(msg);
    let bytes: Uint8Array;
    try {
      bytes = to !== undefined ? askBytes(kind, id, undefined, msg, to.node, to.corr, hops) : tellBytes(kind, id, undefined, msg, hops);
    } catch (err) {
      return this.refuse(msg, WireCodes.badMessage, `message ${msg.type} cannot be encoded as MessagePack: ${(err as Error).message}`, kind, id);
    }
    if (to !== undefined) to.done = true; // the holder answers now
    this.publish(this.subj.node(node), bytes);
  }

  /** Fails an ask with `code`, or drops and counts a tell. */
  private refuse(msg: ActorMessage, code: string, text: string, kind: string, id: string): void {
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

  private publish(subject: string, bytes: Uint8Array): void {
    try {
      this.nats.publish(subject, bytes);
      this.counters.messagesOut++;
    } catch (err) {
      this.logger.warn({ err, subject }, 'publish failed: NATS connection closed or draining');
    }
  }

  // ---------------------------------------------------------------- inbound

  private onSubError(err: Error): void {
    this.logger.error({ err }, 'NATS subscription error');
  }

  private onEnvelope(data: Uint8Array): void {
    const e = readEnvelope(data);
    if (isProblem(e)) return this.badEnvelope(e);
    if (this.closed) {
      if (e.replyNode !== undefined && e.corr !== undefined) this.replyFail(e.replyNode, e.corr, WireCodes.unavailable, `node ${this.id} has closed`);
      return;
    }
    switch (e.op) {
      case Op.tell:
      case Op.ask: {
        const msg = e.body as ActorMessage;
        if (e.op === Op.ask) markForReply(msg, new ReplyTo(this, e.replyNode!, e.corr!));
        else if (msg.type === 'actor.terminated' && this.watches.tracking) this.untrackTerminated(e, msg);
        this.dispatch(e.kind, e.id, e.node !== undefined, msg, e.hops);
        return;
      }
      case Op.spawn:
        return this.onSpawn(e);
      case Op.stop:
        return this.onStop(e);
      case Op.watch:
      case Op.unwatch:
        return this.onWatch(e);
    }
  }

  private badEnvelope(p: EnvelopeProblem): void {
    this.counters.badMessages++;
    this.badLog.run(this.now(), (suppressed) => this.logger.warn({ problem: p.problem, suppressed }, 'bad envelope ignored'));
    if (p.replyNode !== undefined && p.corr !== undefined) this.replyFail(p.replyNode, p.corr, WireCodes.badMessage, `bad envelope: ${p.problem}`);
  }

  private onReply(data: Uint8Array): void {
    const r = readReply(data);
    if (r === undefined) {
      this.counters.badMessages++;
      this.badLog.run(this.now(), (suppressed) => this.logger.warn({ suppressed }, 'bad reply ignored'));
      return;
    }
    const p = this.asks.take(r.corr);
    if (p === undefined) return; // late (timed out) or duplicate
    if (r.ok) p.resolve(r.value);
    else p.reject(errorFromWire(r.code, r.message, r.appCode));
  }

  private onSpawn(e: Envelope): void {
    const replyNode = e.replyNode!;
    const corr = e.corr!;
    try {
      const ref = this.spawnLocal(e.kind, e.id, e.body);
      this.replyOk(replyNode, corr, ref);
    } catch (err) {
      const code = err instanceof ActorRuntimeError ? err.code : WireCodes.badMessage;
      this.replyFail(replyNode, corr, code, (err as Error).message);
    }
  }

  private onStop(e: Envelope): void {
    this.stopLocal(e.kind, e.id, e.node !== undefined).then(
      () => this.replyOk(e.replyNode!, e.corr!, true),
      (err: unknown) => this.replyFail(e.replyNode!, e.corr!, err instanceof ActorRuntimeError ? err.code : WireCodes.unavailable, (err as Error).message),
    );
  }

  private onWatch(e: Envelope): void {
    const w = e.body;
    if (!Array.isArray(w) || typeof w[0] !== 'string' || typeof w[1] !== 'string' || (w[2] != null && (typeof w[2] !== 'string' || !NODE_ID_PATTERN.test(w[2])))) {
      return this.badEnvelope({ problem: 'watch body must be [watcherKind, watcherId, watcherNode?]', replyNode: undefined, corr: undefined });
    }
    const watcher: ActorRef = w[2] == null ? { kind: w[0], id: w[1] } : { kind: w[0], id: w[1], node: w[2] as string };
    if (e.op === Op.unwatch) this.watches.remove(e.kind, e.id, watcher);
    else this.registerWatch(e.kind, e.id, e.node !== undefined, watcher, e.hops);
  }

  /** A watched target's node told our watcher itself: the node-down fallback is no longer needed. */
  private untrackTerminated(e: Envelope, msg: ActorMessage): void {
    const ref = (msg as Partial<TerminatedMessage>).ref;
    if (ref && typeof ref.kind === 'string' && typeof ref.id === 'string') {
      const watcher: ActorRef = e.node === undefined ? { kind: e.kind, id: e.id } : { kind: e.kind, id: e.id, node: e.node };
      const target: ActorRef = typeof ref.node === 'string' ? { kind: ref.kind, id: ref.id, node: ref.node } : { kind: ref.kind, id: ref.id };
      this.watches.untrack(watcher, target);
    }
  }

  // ---------------------------------------------------------------- watches

  private registerWatch(kind: string, id: string, explicit: boolean, watcher: ActorRef, hops: number): void {
    const spec = this.specs.get(kind);
    const cell = this.cells.get(kind)?.get(id);
    const target: ActorRef = explicit ? { kind, id, node: this.id } : { kind, id };
    if (cell !== undefined && cell.status !== CellStatus.stopped) return this.watches.add(kind, id, watcher);
    if (spec === undefined || explicit || !spec.virtual) {
      this.tell(watcher, terminated(target, 'stopped'));
      return;
    }
    const holder = this.forwardCache.get(targetKey(kind, id));
    if (holder !== undefined && holder !== this.id && this.membership.isLive(holder) && hops < MAX_HOPS) {
      this.publish(this.subj.node(holder), envelopeBytes({ op: Op.watch, kind, id, node: undefined, body: [watcher.kind, watcher.id, watcher.node], replyNode: undefined, corr: undefined, hops: hops + 1 }));
      return;
    }
    this.watches.add(kind, id, watcher); // not active: fires on its next stop, failure or passivation
  }

  private notifyWatchers(cell: Cell, reason: TerminationReason): void {
    for (const w of this.watches.take(cell.spec.kind, cell.id)) this.tell(w, terminated(cell.ref, reason));
  }

  // ---------------------------------------------------------------- control RPC

  private sendControl(node: string, op: typeof Op.watch | typeof Op.unwatch, target: ActorRef, body: unknown): void {
    this.publish(this.subj.node(node), envelopeBytes({ op, kind: target.kind, id: target.id, node: target.node, body, replyNode: undefined, corr: undefined, hops: 0 }));
  }

  private control<T>(node: string, op: typeof Op.spawn | typeof Op.stop, kind: string, id: string, explicitNode: string | undefined, body: unknown, target: ActorRef): Promise<T> {
    const corr = this.asks.corr();
    return new Promise<T>((resolve, reject) => {
      let bytes: Uint8Array;
      try {
        bytes = envelopeBytes({ op, kind, id, node: explicitNode, body, replyNode: this.id, corr, hops: 0 });
      } catch (err) {
        reject(new BadMessageError(`arguments for ${kind}/${id} cannot be encoded as MessagePack (only local spawns may pass other values)`, { cause: err }));
        return;
      }
      this.asks.add(new Pending(corr, node, target, DEFAULT_ASK_TIMEOUT_MS, resolve as (v: unknown) => void, reject));
      this.publish(this.subj.node(node), bytes);
    });
  }

  // ---------------------------------------------------------------- lifecycle

  private spawnLocal(kind: string, id: string, args: unknown): ActorRef {
    const spec = this.specs.get(kind);
    if (spec === undefined) throw new NoSuchActorError(`node ${this.id} does not host actor kind ${kind}`);
    if (spec.virtual) throw new RuntimeConfigError(`actor kind ${kind} is virtual: it starts with its first message; spawn() is for kinds with placement 'explicit'`);
    if (this.closing) throw new UnavailableError(`node ${this.id} is closing; spawn on another node`);
    const existing = this.cells.get(kind)!.get(id);
    if (existing !== undefined && existing.status !== CellStatus.stopping) return existing.ref;
    if (existing !== undefined) throw new UnavailableError(`actor ${kind}/${id} is stopping on node ${this.id}; spawn it again once stopped`);
    const ref: ActorRef = { kind, id, node: this.id };
    const cell = new Cell(this, spec, id, ref, actorKey(kind, id), args);
    this.cells.get(kind)!.set(id, cell);
    this.counters.activations++;
    cell.start(undefined);
    return ref;
  }

  private async stopLocal(kind: string, id: string, explicit: boolean): Promise<void> {
    const spec = this.specs.get(kind);
    if (spec === undefined) throw new NoSuchActorError(`node ${this.id} does not host actor kind ${kind}`);
    const cell = this.cells.get(kind)!.get(id);
    if (cell === undefined) {
      if (explicit || !spec.virtual) throw new NoSuchActorError(`actor ${kind}/${id} is not running on node ${this.id}`);
      return;
    }
    await this.stopCell(cell, 'stopped');
  }

  private async activate(cell: Cell, hops: number): Promise<void> {
    const { kind } = cell.spec;
    try {
      const lease = await this.leases!.acquire(cell.key, (n) => this.membership.isLive(n));
      if (!lease.ok) {
        this.removeCell(cell);
        cell.status = CellStatus.stopped;
        this.cacheForward(kind, cell.id, lease.holder);
        for (const m of cell.takeQueued()) this.forward(kind, cell.id, m, lease.holder, hops + 1);
        return;
      }
      cell.leaseRev = lease.rev;
      cell.leaseEpoch = lease.epoch;
      const snapshot = cell.spec.persist && this.snapshots ? await this.snapshots.load(cell) : undefined;
      cell.idleSince = this.now();
      this.counters.activations++;
      cell.start(snapshot);
    } catch (err) {
      this.logger.error({ err, kind, actor: cell.id }, 'activation failed: leases or snapshots unreachable');
      this.removeCell(cell);
      cell.status = CellStatus.stopped;
      if (cell.leaseRev !== 0) await this.leases!.release(cell.key, cell.leaseRev).catch(() => undefined);
      for (const m of cell.takeQueued()) this.refuse(m, WireCodes.unavailable, `could not activate ${kind}/${cell.id}: ${(err as Error).message}`, kind, cell.id);
    }
  }

  private cacheForward(kind: string, id: string, holder: string): void {
    if (this.forwardCache.size >= FORWARD_CACHE_MAX) this.forwardCache.clear();
    this.forwardCache.set(targetKey(kind, id), holder);
  }

  private removeCell(cell: Cell): void {
    const m = this.cells.get(cell.spec.kind)!;
    if (m.get(cell.id) === cell) m.delete(cell.id);
  }

  /**
   * Stops a cell: final snapshot write, machine stopped, lease released, watchers told. Messages
   * that arrived meanwhile are routed again (virtual: they reactivate it, here or elsewhere) or
   * refused (explicit).
   */
  stopCell(cell: Cell, reason: TerminationReason): Promise<void> {
    return (cell.stopPromise ??= this.doStopCell(cell, reason));
  }

  private async doStopCell(cell: Cell, reason: TerminationReason): Promise<void> {
    if (cell.status === CellStatus.activating) await cell.activation;
    if (cell.status === CellStatus.stopped) return;
    cell.status = CellStatus.stopping;
    const { kind, virtual } = cell.spec;
    try {
      if (this.snapshots && cell.spec.persist) {
        if (cell.actor !== undefined && cell.persisting === 0) this.snapshots.schedule(cell);
        await this.snapshots.flush(cell);
      }
    } catch (err) {
      cell.logger.error({ err }, 'final snapshot write failed');
    }
    cell.stopActor();
    if (virtual && cell.leaseRev !== 0 && this.leases && !this.fenced) {
      await this.leases.release(cell.key, cell.leaseRev).catch((err: unknown) => cell.logger.warn({ err }, 'lease release failed; it is reclaimed when this node is seen down'));
    }
    this.removeCell(cell);
    cell.status = CellStatus.stopped;
    this.notifyWatchers(cell, reason);
    for (const m of cell.takeQueued()) {
      if (virtual && !this.closed) this.dispatch(kind, cell.id, false, m, 0);
      else this.refuse(m, WireCodes.noSuchActor, `actor ${kind}/${cell.id} stopped (${reason})`, kind, cell.id);
    }
  }

  private startSweep(): void {
    let min = Infinity;
    for (const s of this.specs.values()) if (s.virtual && s.passivateAfterMs > 0) min = Math.min(min, s.passivateAfterMs);
    if (min === Infinity) return;
    const every = Math.max(20, Math.min(1_000, Math.floor(min / 4)));
    this.sweepTimer = setInterval(() => this.sweep(), every);
    this.sweepTimer.unref();
  }

  /** Passivates virtual actors idle for passivateAfterMs (touched is cleared here, set per message). */
  private sweep(): void {
    const now = this.now();
    for (const [kind, m] of this.cells) {
      const spec = this.specs.get(kind)!;
      if (!spec.virtual || spec.passivateAfterMs <= 0) continue;
      for (const c of m.values()) {
        if (c.status !== CellStatus.running) continue;
        if (c.touched || c.busy || c.queued !== 0) {
          c.touched = false;
          c.idleSince = now;
        } else if (now - c.idleSince >= spec.passivateAfterMs) {
          void this.stopCell(c, 'passivated');
        }
      }
    }
  }

  private onMembershipEvent(e: MembershipEvent): void {
    this.rebuildCandidates();
    if (e.type !== 'down') return;
    const n = e.member.nodeId;
    const how = e.reason === 'left' ? 'left the cluster' : 'went down';
    this.asks.failNode(n, (p) => new NodeDownError(`node ${n} ${how} before ${p.target.kind}/${p.target.id} answered`));
    for (const pair of this.watches.takeNode(n)) this.tell(pair.watcher, terminated(pair.target, 'node-down'));
    for (const [k, holder] of this.forwardCache) if (holder === n) this.forwardCache.delete(k);
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
    let n = 0;
    for (const m of this.cells.values()) {
      for (const c of m.values()) {
        if (!c.spec.virtual || c.status === CellStatus.stopped) continue;
        n++;
        c.stopActor();
        this.removeCell(c);
        c.status = CellStatus.stopped;
        this.notifyWatchers(c, 'node-down');
        for (const q of c.takeQueued()) this.refuse(q, WireCodes.unavailable, `node ${this.id} lost NATS`, c.spec.kind, c.id);
      }
    }
    this.logger.warn({ stopped: n }, `no NATS connection for ${Math.floor(this.downAfterMs / 2)} ms: stopped local virtual actors so another node can take them (self-fencing)`);
  }

  private async doClose(): Promise<void> {
    this.closing = true;
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    if (this.fenceTimer) clearTimeout(this.fenceTimer);
    try {
      this.membership.announce({ draining: true });
      const all: Promise<void>[] = [];
      for (const m of this.cells.values()) for (const c of m.values()) all.push(this.stopCell(c, c.spec.virtual ? 'passivated' : 'stopped'));
      await Promise.all(all);
      await this.membership.leave();
    } finally {
      this.closed = true;
      this.membership.stop();
      this.asks.failAll((p) => new UnavailableError(`node ${this.id} closed before ${p.target.kind}/${p.target.id} answered`));
      for (const s of this.subs) s.unsubscribe();
      if (this.ownConnection) await this.nats.drain().catch(() => undefined);
      else await this.nats.flush().catch(() => undefined);
      this.logger.info('node closed');
    }
  }
}

function terminated(ref: ActorRef, reason: TerminatedMessage['reason']): TerminatedMessage {
  return { type: 'actor.terminated', ref, reason };
}

function randomNodeId(): string {
  return `n-${Math.random().toString(36).slice(2, 10)}`;
}

/**
 * Starts a node: connects (unless given a connection), opens the KV buckets its kinds need, and
 * joins the cluster. Resolves after a short discovery round, so the first placement already sees
 * the existing members. Throws RuntimeConfigError on bad options and UnavailableError when NATS or
 * JetStream is not reachable.
 */
export async function startNode(options: NodeOptions): Promise<ActorNode> {
  const id = options.nodeId ?? randomNodeId();
  if (!NODE_ID_PATTERN.test(id) || id === 'hb') throw new RuntimeConfigError(`node id ${JSON.stringify(id)} must be 1-64 characters of [A-Za-z0-9_-] and not "hb"`);
  const prefix = options.prefix ?? 'sm';
  if (!/^[A-Za-z0-9_-]{1,32}$/.test(prefix)) throw new RuntimeConfigError(`prefix ${JSON.stringify(prefix)} must be 1-32 characters of [A-Za-z0-9_-]`);
  const hb = options.heartbeatMs ?? 1_000;
  const down = options.downAfterMs ?? 3_000;
  if (!(hb > 0) || !(down > hb)) throw new RuntimeConfigError(`downAfterMs (${down}) must be greater than heartbeatMs (${hb}), both positive`);
  const own = typeof options.nats === 'string' || Array.isArray(options.nats);
  let nc: NatsConnection;
  if (own) {
    const servers = options.nats as string | string[];
    try {
      nc = await connect({ servers, name: `syncmesh-${id}`, maxReconnectAttempts: -1, reconnectTimeWait: 250 });
    } catch (err) {
      throw new UnavailableError(`could not connect to NATS at ${String(servers)}: ${(err as Error).message}. Is nats-server running there?`, { cause: err });
    }
  } else {
    nc = options.nats as NatsConnection;
  }
  const node = new NodeImpl(nc, own, options, id);
  try {
    await node.start();
  } catch (err) {
    if (own) await nc.close().catch(() => undefined);
    throw err;
  }
  return node;
}
