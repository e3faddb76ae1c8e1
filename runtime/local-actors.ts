/**
 * The actors of this node and their lifecycle: spawn, activation under a lease, restarts (through
 * the cells), stop and passivation with the final snapshot write, self-fencing. Routing and the
 * wire stay in node.ts and are reached through {@link Router}.
 */
import type { Logger } from 'pino';
import { createActor, fromTransition, type AnyActorRef, type Snapshot } from 'xstate';
import { Cell, CellStatus, type CellHost, type TerminationReason } from './cell.js';
import type { Clock, TimerHandle } from './clock.js';
import type { KindSpec } from './define.js';
import { NoSuchActorError, RuntimeConfigError, SpawnRefusedError, UnavailableError, WireCodes } from './errors.js';
import { actorKey, type LeaseStore } from './leases.js';
import { PassivationPacer } from './passivation-pacer.js';
import { replyToOf } from './reply.js';
import type { SnapshotStore } from './snapshots.js';
import type { ActorMessage, ActorNode, ActorRef } from './types.js';
import { targetKey } from './watches.js';

const FORWARD_CACHE_MAX = 10_000;
/**
 * Passivations started at a time, by default (NodeOptions.maxPassivationsInFlight; each removes its
 * lease: a JetStream delete). 32 passivates 10,000 actors in 1.4-2.1 s here and kept a writer sharing
 * nats-server at most 17-28 ms late meanwhile, where all at once held it up to 269 ms (docs/performance.md,
 * P7 "Session 11", `node dist/bench/tools/passivation-wave.js`).
 */
export const DEFAULT_MAX_PASSIVATIONS = 32;

/** Counters shared by the node and its actors (RuntimeMetrics reads them). */
export class Counters {
  messagesIn = 0;
  messagesOut = 0;
  asksSent = 0;
  restarts = 0;
  badMessages = 0;
  spawnsRefused = 0;
  strayReplies = 0;
  mailboxDropped = 0;
  asksExpired = 0;
  deadLetters = 0;
  activations = 0;
  answeredInactive = 0;
  hibernations = 0;
}

/** What the lifecycle needs from the node. */
export interface Router {
  readonly id: string;
  readonly publicNode: ActorNode;
  readonly logger: Logger;
  readonly counters: Counters;
  readonly clock: Clock;
  isLive(node: string): boolean;
  /** Undefined when isLive(node) can be trusted now; else settles once it can (Membership.heardOf). */
  heardOf(node: string): Promise<void> | undefined;
  /** Closing: no new spawns; messages of stopped virtual actors go elsewhere. */
  readonly closing: boolean;
  /** Closed: queued messages are refused, not routed again. */
  readonly closed: boolean;
  /** Cut off from NATS: leases are not touched. */
  readonly fenced: boolean;
  dispatch(kind: string, id: string, explicit: boolean, msg: ActorMessage, hops: number): void;
  forward(kind: string, id: string, msg: ActorMessage, node: string, hops: number): void;
  refuse(msg: ActorMessage, code: string, text: string, kind: string, id: string): void;
  notifyWatchers(cell: Cell, reason: TerminationReason): void;
  /** Activation found virtual `kind/id` active at `holder`: watches registered here meanwhile go there. */
  movedTo(kind: string, id: string, holder: string): void;
}

export class LocalActors implements CellHost {
  readonly specs = new Map<string, KindSpec>();
  /** kind -> id -> cell: two lookups, no key string built per message. */
  readonly cells = new Map<string, Map<string, Cell>>();
  /** Virtual actors found active on another node (lease holder), so later messages go straight there. */
  private readonly holders = new Map<string, string>();
  leases: LeaseStore | undefined;
  snapshots: SnapshotStore | undefined;
  private sweepTimer: TimerHandle | undefined;
  /** Idle virtual actors passivate a bounded number at a time (passivation-pacer.ts). */
  private readonly passivations: PassivationPacer<Cell>;

  constructor(
    private readonly r: Router,
    specs: readonly KindSpec[],
    maxPassivationsInFlight = DEFAULT_MAX_PASSIVATIONS,
  ) {
    this.passivations = new PassivationPacer<Cell>(maxPassivationsInFlight, (c) =>
      c.status === CellStatus.running && !c.touched && !c.busy && c.queued === 0 ? this.stopCell(c, 'passivated') : undefined,
    );
    for (const s of specs) {
      if (this.specs.has(s.kind)) throw new RuntimeConfigError(`actor kind ${s.kind} is given twice to node ${r.id}`);
      this.specs.set(s.kind, s);
      this.cells.set(s.kind, new Map());
    }
  }

  // CellHost
  get id(): string {
    return this.r.id;
  }
  get publicNode(): ActorNode {
    return this.r.publicNode;
  }
  get logger(): Logger {
    return this.r.logger;
  }
  get clock(): Clock {
    return this.r.clock;
  }

  #parent: AnyActorRef | undefined;
  get actorParent(): AnyActorRef {
    if (this.#parent === undefined) {
      // Transition logic, not a machine: a machine errors on a child's relayed error event it has no
      // transition for, and this parent must ignore everything (each cell supervises its own actor).
      this.#parent = createActor(fromTransition((state: null) => state, null), { id: `syncmesh-node-${this.r.id}` });
      this.#parent.start();
    }
    return this.#parent;
  }

  onExpired(): void {
    this.r.counters.asksExpired++;
  }

  onOverflow(cell: Cell, message: ActorMessage): void {
    this.r.counters.mailboxDropped++;
    replyToOf(message)?.fail(WireCodes.mailboxFull, `mailbox of ${cell.spec.kind}/${cell.id} is full (capacity ${cell.spec.capacity}); slow down or raise mailbox.capacity`);
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
    this.r.counters.restarts++;
  }

  // Holders of virtual actors active elsewhere

  holderOf(kind: string, id: string): string | undefined {
    return this.holders.get(targetKey(kind, id));
  }

  forgetHolder(kind: string, id: string): void {
    this.holders.delete(targetKey(kind, id));
  }

  /** A node went down: forget what it held. */
  forgetNode(node: string): void {
    for (const [k, holder] of this.holders) if (holder === node) this.holders.delete(k);
  }

  /**
   * Where virtual `kind/id` is active when it is not here: its lease holder, if that is another
   * live node (the cached holder first, else the lease store).
   */
  async activeElsewhere(kind: string, id: string): Promise<string | undefined> {
    const cached = this.holderOf(kind, id);
    if (cached !== undefined && cached !== this.r.id && this.r.isLive(cached)) return cached;
    if (this.leases === undefined) return undefined;
    const h = await this.leases.holder(actorKey(kind, id));
    if (h === undefined || h.node === this.r.id) return undefined;
    if (!this.r.isLive(h.node)) await this.r.heardOf(h.node); // a node that just joined may not have heard of it yet
    if (!this.r.isLive(h.node)) return undefined;
    this.rememberHolder(kind, id, h.node);
    return h.node;
  }

  private rememberHolder(kind: string, id: string, holder: string): void {
    if (this.holders.size >= FORWARD_CACHE_MAX) this.holders.clear();
    this.holders.set(targetKey(kind, id), holder);
  }

  // Lifecycle

  /** A virtual actor's first message reached this node: create its cell and activate it. */
  activateNew(spec: KindSpec, id: string, msg: ActorMessage, hops: number): void {
    const cell = new Cell(this, spec, id, { kind: spec.kind, id }, undefined);
    this.cells.get(spec.kind)!.set(id, cell);
    this.r.counters.messagesIn++;
    cell.enqueue(msg);
    cell.life.activation = this.activate(cell, hops);
  }

  private async activate(cell: Cell, hops: number): Promise<void> {
    const { kind } = cell.spec;
    try {
      const lease = await this.leases!.acquire(cell.key, this.r);
      if (!lease.ok) {
        this.remove(cell);
        cell.life.end('active on another node');
        this.rememberHolder(kind, cell.id, lease.holder);
        this.r.movedTo(kind, cell.id, lease.holder);
        for (const m of cell.takeQueued()) this.r.forward(kind, cell.id, m, lease.holder, hops + 1);
        return;
      }
      cell.life.leased(lease.rev, lease.epoch);
      const snapshot = cell.spec.persist && this.snapshots ? await this.snapshots.load(cell) : undefined;
      cell.idleSince = this.r.clock.now();
      // False when self-fencing stopped the cell meanwhile (its messages were refused then).
      if (cell.start(snapshot)) this.r.counters.activations++;
    } catch (err) {
      this.r.logger.error({ err, kind, actor: cell.id }, 'activation failed: leases or snapshots unreachable');
      this.remove(cell);
      cell.life.end('activation failed');
      if (cell.life.leaseRev !== 0) await this.leases!.release(cell.key, cell.life.leaseRev).catch(() => undefined);
      for (const m of cell.takeQueued()) this.r.refuse(m, WireCodes.unavailable, `could not activate ${kind}/${cell.id}: ${(err as Error).message}`, kind, cell.id);
    }
  }

  /**
   * Starts an explicit actor here (idempotent: a running id returns its ref). `from`: the node that
   * asked, when it is another one (a local-only kind refuses it).
   */
  spawn(kind: string, id: string, args: unknown, from?: string): ActorRef {
    const spec = this.specs.get(kind);
    if (spec === undefined) throw new NoSuchActorError(`node ${this.r.id} does not host actor kind ${kind}`);
    if (from !== undefined && !spec.remoteSpawn) {
      throw new SpawnRefusedError(`node ${this.r.id} refused to spawn ${kind}/${id} for node ${from}: kind ${kind} is local-only (remoteSpawn: false); spawn it from its own node`);
    }
    if (spec.virtual) throw new RuntimeConfigError(`actor kind ${kind} is virtual: it starts with its first message; spawn() is for kinds with placement 'explicit'`);
    if (this.r.closing) throw new UnavailableError(`node ${this.r.id} is closing; spawn on another node`);
    const existing = this.cells.get(kind)!.get(id);
    if (existing !== undefined && existing.status !== CellStatus.stopping) return existing.ref;
    if (existing !== undefined) throw new UnavailableError(`actor ${kind}/${id} is stopping on node ${this.r.id}; spawn it again once stopped`);
    const ref: ActorRef = { kind, id, node: this.r.id };
    const cell = new Cell(this, spec, id, ref, args);
    this.cells.get(kind)!.set(id, cell);
    this.r.counters.activations++;
    cell.start(undefined);
    return ref;
  }

  /**
   * stop() of a local actor. A virtual actor that is not active is fine (nothing to stop).
   * Resolves with the node holding the actor when it was activating here and that activation found
   * it active on another node (the stop must go there), else undefined.
   */
  async stop(kind: string, id: string, explicit: boolean): Promise<string | undefined> {
    const spec = this.specs.get(kind);
    if (spec === undefined) throw new NoSuchActorError(`node ${this.r.id} does not host actor kind ${kind}`);
    const cell = this.cells.get(kind)!.get(id);
    if (cell === undefined) {
      if (explicit || !spec.virtual) throw new NoSuchActorError(`actor ${kind}/${id} is not running on node ${this.r.id}`);
      return undefined;
    }
    if (cell.status === CellStatus.activating) {
      await cell.life.activation;
      const holder = this.holderOf(kind, id);
      if ((cell.status as CellStatus) === CellStatus.stopped && holder !== undefined && holder !== this.r.id) return holder;
    }
    await this.stopCell(cell, 'stopped');
    return undefined;
  }

  /**
   * Stops a cell: final snapshot write, machine stopped, lease released, watchers told. Messages
   * that arrived meanwhile are routed again (virtual: they reactivate it, here or elsewhere) or
   * refused (explicit).
   */
  stopCell(cell: Cell, reason: TerminationReason): Promise<void> {
    return (cell.life.stopping ??= this.doStop(cell, reason));
  }

  private async doStop(cell: Cell, reason: TerminationReason): Promise<void> {
    if (cell.status === CellStatus.activating) await cell.life.activation;
    if (!cell.life.beginStop(reason)) return; // stopped meanwhile
    const { kind, virtual } = cell.spec;
    try {
      if (this.snapshots && cell.spec.persist) await this.snapshots.final(cell);
    } catch (err) {
      cell.logger.error({ err }, 'final snapshot write failed');
    }
    cell.stopActor();
    const rev = cell.life.leaseRev;
    if (virtual && rev !== 0 && this.leases && !this.r.fenced) {
      await this.leases.release(cell.key, rev).then(
        () => cell.life.released(),
        (err: unknown) => cell.logger.warn({ err }, 'lease release failed; it is reclaimed when this node is seen down'),
      );
    }
    this.remove(cell);
    cell.life.end(reason);
    this.r.notifyWatchers(cell, reason);
    for (const m of cell.takeQueued()) {
      if (virtual && !this.r.closed) this.r.dispatch(kind, cell.id, false, m, 0);
      else this.r.refuse(m, WireCodes.noSuchActor, `actor ${kind}/${cell.id} stopped (${reason})`, kind, cell.id);
    }
  }

  /** Stops every actor (leave): virtual ones passivate, explicit ones stop. */
  stopAll(): Promise<void[]> {
    this.stopSweep();
    this.passivations.clear();
    const all: Promise<void>[] = [];
    for (const m of this.cells.values()) for (const c of m.values()) all.push(this.stopCell(c, c.spec.virtual ? 'passivated' : 'stopped'));
    return Promise.all(all);
  }

  /** The snapshot write of `cell` lost its lease: stop it here without releasing anything. */
  fenced(cell: Cell): void {
    cell.life.loseLease();
    void this.stopCell(cell, 'stopped');
  }

  /** Cut off from NATS: stop every virtual actor at once, no KV (another node may take them). */
  fenceAll(): number {
    this.passivations.clear();
    let n = 0;
    for (const m of this.cells.values()) {
      for (const c of m.values()) {
        if (!c.spec.virtual || c.status === CellStatus.stopped) continue;
        n++;
        c.life.loseLease(); // presumed: another node may take it from now on
        c.stopActor();
        this.remove(c);
        c.life.end('node-down');
        this.r.notifyWatchers(c, 'node-down');
        for (const q of c.takeQueued()) this.r.refuse(q, WireCodes.unavailable, `node ${this.r.id} lost NATS`, c.spec.kind, c.id);
      }
    }
    return n;
  }

  private remove(cell: Cell): void {
    const m = this.cells.get(cell.spec.kind)!;
    if (m.get(cell.id) === cell) m.delete(cell.id);
  }

  // Passivation

  startSweep(): void {
    let min = Infinity;
    for (const s of this.specs.values()) {
      if (s.virtual && s.passivateAfterMs > 0) min = Math.min(min, s.passivateAfterMs);
      if (!s.virtual && s.hibernateAfterMs > 0) min = Math.min(min, s.hibernateAfterMs);
    }
    if (min === Infinity) return;
    const every = Math.max(20, Math.min(1_000, Math.floor(min / 4)));
    this.sweepTimer = this.r.clock.setInterval(() => this.sweep(), every);
  }

  stopSweep(): void {
    if (this.sweepTimer !== undefined) this.r.clock.clearInterval(this.sweepTimer);
    this.sweepTimer = undefined;
  }

  /**
   * Passivates virtual actors idle for passivateAfterMs, and hibernates explicit ones idle for
   * hibernateAfterMs (`touched` is set per message, cleared here).
   */
  private sweep(): void {
    const now = this.r.clock.now();
    for (const [kind, m] of this.cells) {
      const spec = this.specs.get(kind)!;
      const after = spec.virtual ? spec.passivateAfterMs : spec.hibernateAfterMs;
      if (after <= 0) continue;
      for (const c of m.values()) {
        if (c.status !== CellStatus.running || (!spec.virtual && c.actor === undefined)) continue;
        if (c.touched || c.busy || c.queued !== 0) {
          c.touched = false;
          c.idleSince = now;
        } else if (now - c.idleSince >= after) {
          if (spec.virtual) this.passivations.offer(c);
          else if (c.hibernate()) this.r.counters.hibernations++;
        }
      }
    }
  }

  /** Gauges: running actors and queued messages. */
  gauges(): { active: number; depth: number; hibernated: number; byKind: Record<string, { active: number; mailboxDepth: number }> } {
    let active = 0;
    let depth = 0;
    let hibernated = 0;
    const byKind: Record<string, { active: number; mailboxDepth: number }> = {};
    for (const [kind, m] of this.cells) {
      let kindActive = 0;
      let kindDepth = 0;
      for (const c of m.values()) {
        if (c.status === CellStatus.running) kindActive++;
        if (c.hibernated !== undefined) hibernated++;
        kindDepth += c.queued;
      }
      byKind[kind] = { active: kindActive, mailboxDepth: kindDepth };
      active += kindActive;
      depth += kindDepth;
    }
    return { active, depth, hibernated, byKind };
  }
}
