/**
 * The node: a process in the cluster, and the public {@link ActorNode} (this class stays
 * internal). It wires the parts together and answers the public API; each concern lives in its
 * own file and owns its state:
 *
 *   routing.ts               where a tell or ask goes; delivery, forwarding of virtual actors
 *   candidates.ts            placement of virtual actors over live members
 *   waiting.ts               messages held until a member hosting their kind appears
 *   endpoint.ts, sender.ts   inbound subscriptions and frame checks; outbound batches and answers
 *   control.ts               spawn and stop on other nodes (both sides)
 *   death-watch.ts           watch, unwatch, and moving watches with virtual actors
 *   membership-reactions.ts  what a join, change or departure does here
 *   fencing.ts               self-fencing when cut off from NATS or stalled
 *   shutdown.ts              leaving the cluster
 *   local-actors.ts, cell.ts this node's actors and their lifecycle (cell-lifecycle.ts)
 */
import type { NatsConnection } from '@nats-io/nats-core';
import type { Logger } from 'pino';
import { PendingAsks } from './asks.js';
import { Candidates } from './candidates.js';
import type { Cell, TerminationReason } from './cell.js';
import { systemClock, type Clock } from './clock.js';
import { Control } from './control.js';
import { DeathWatch } from './death-watch.js';
import { kindSpec } from './define.js';
import { Endpoint } from './endpoint.js';
import { subjects } from './envelope.js';
import { SelfFencing } from './fencing.js';
import { HolderFollower } from './follow.js';
import { Counters, DEFAULT_MAX_PASSIVATIONS, LocalActors, type Router } from './local-actors.js';
import { defaultLogger } from './logger.js';
import { Membership } from './membership.js';
import { reactToMembership } from './membership-reactions.js';
import { DEFAULT_ASK_TIMEOUT_MS, Routing } from './routing.js';
import { Sender } from './sender.js';
import { Shutdown, type NodeLife } from './shutdown.js';
import { openStores } from './stores.js';
import type { JetStreamRequests } from './jetstream-requests.js';
import type { ActorMessage, ActorNode, ActorRef, AskOptions, MemberInfo, MembershipEvent, NodeOptions, RuntimeMetrics, SpawnPlacement } from './types.js';
import { DEFAULT_HOST_WAIT_CAPACITY, DEFAULT_HOST_WAIT_MS, Waiting } from './waiting.js';

export { DEFAULT_HOST_WAIT_CAPACITY, DEFAULT_HOST_WAIT_MS } from './waiting.js';

export class NodeImpl implements ActorNode, NodeLife {
  readonly id: string;
  readonly roles: readonly string[];
  readonly logger: Logger;
  readonly clock: Clock;
  readonly counters = new Counters();
  private readonly cells: Map<string, Map<string, Cell>>;
  private readonly asks: PendingAsks;
  private readonly actors: LocalActors;
  private readonly membership: Membership;
  private readonly candidates = new Candidates();
  private readonly sender: Sender;
  private readonly routing: Routing;
  private readonly waiting: Waiting;
  private readonly deathWatch: DeathWatch;
  private readonly control: Control;
  private readonly endpoint: Endpoint;
  private readonly fencing: SelfFencing;
  private readonly shutdown: Shutdown;
  /** The leases' JetStream request channel (stores.ts), once start() opened it. */
  private stores: JetStreamRequests | undefined;

  constructor(
    readonly nats: NatsConnection,
    ownConnection: boolean,
    private readonly options: NodeOptions,
    id: string,
  ) {
    this.id = id;
    this.roles = Object.freeze([...(options.roles ?? [])]);
    this.clock = systemClock(options.now);
    this.logger = (options.logger ?? defaultLogger()).child({ node: id });
    const heartbeatMs = options.heartbeatMs ?? 1_000;
    const downAfterMs = options.downAfterMs ?? 3_000;
    const subj = subjects(options.prefix ?? 'sm');
    const isLive = (node: string): boolean => this.membership.isLive(node);
    this.asks = new PendingAsks(this.clock);
    this.actors = new LocalActors(this.actorsRouter(isLive), (options.kinds ?? []).map(kindSpec), options.maxPassivationsInFlight ?? DEFAULT_MAX_PASSIVATIONS);
    this.cells = this.actors.cells;
    this.membership = new Membership({
      nc: nats,
      subjectBase: subj.heartbeat,
      self: { nodeId: id, roles: this.roles, kinds: [...this.actors.specs.keys()], meta: { ...(options.meta ?? {}) }, startedAt: Date.now() },
      heartbeatMs,
      downAfterMs,
      clock: this.clock,
      logger: this.logger,
      onBadMessage: () => this.counters.badMessages++,
      onOwnEcho: () => this.fencing.onOwnEcho(),
    });
    this.sender = new Sender(nats, id, subj, this.counters, this.asks, this.logger);
    const follower = new HolderFollower((kind, actorId) => this.actors.activeElsewhere(kind, actorId), this.logger);
    const base = { id, logger: this.logger, clock: this.clock, counters: this.counters, asks: this.asks, sender: this.sender, life: this as NodeLife };
    this.routing = new Routing({ ...base, actors: this.actors, candidates: this.candidates, isLive, waiting: () => this.waiting, onRemoteAsk: options.onRemoteAsk });
    this.waiting = new Waiting({
      ...base,
      candidates: this.candidates,
      waitMs: options.hostWaitMs ?? DEFAULT_HOST_WAIT_MS,
      capacity: options.hostWaitCapacity ?? DEFAULT_HOST_WAIT_CAPACITY,
      tell: (ref, message) => this.tell(ref, message),
      ask: (ref, message, timeoutMs) => this.routing.ask(ref, message, timeoutMs),
      deadLetter: (ref, message, why) => this.routing.deadLetter(ref, message, why),
    });
    this.deathWatch = new DeathWatch({
      ...base,
      routing: this.routing,
      follower,
      isLive,
      tell: (ref, message) => this.tell(ref, message),
      bad: (problem) => this.endpoint.bad({ problem, replyNode: undefined, corr: undefined }),
    });
    this.control = new Control({ ...base, actors: this.actors, membership: this.membership, routing: this.routing, follower });
    const routing = this.routing;
    const deathWatch = this.deathWatch;
    const control = this.control;
    this.endpoint = new Endpoint({
      ...base,
      nats,
      handlers: {
        ask: (kind, actorId, explicit, msg, replyNode, corr, hops, deadline) => routing.deliverAsk(kind, actorId, explicit, msg, replyNode, corr, hops, deadline),
        tell: (kind, actorId, explicit, msg, hops) => {
          if (msg.type === 'actor.terminated' && deathWatch.tracking) deathWatch.untrackTerminated(kind, actorId, explicit, msg);
          routing.dispatch(kind, actorId, explicit, msg, hops);
        },
        spawn: (e) => control.onSpawn(e),
        stop: (e) => control.onStop(e),
        watch: (e) => deathWatch.onEnvelope(e),
      },
    });
    this.fencing = new SelfFencing({
      logger: this.logger,
      clock: this.clock,
      heartbeatMs,
      downAfterMs,
      lastEcho: () => this.membership.lastEcho,
      fenceAll: () => this.actors.fenceAll(),
      closing: () => this.closing,
    });
    this.shutdown = new Shutdown({
      ...base,
      nats,
      ownConnection,
      membership: this.membership,
      actors: this.actors,
      waiting: this.waiting,
      endpoint: this.endpoint,
      stopTimers: () => this.fencing.stop(),
      closeStores: () => this.stores?.close(),
    });
  }

  /** What the node's actors need from it (local-actors.ts). */
  private actorsRouter(isLive: (node: string) => boolean): Router {
    const node = this;
    return {
      id: node.id,
      publicNode: node,
      logger: node.logger,
      counters: node.counters,
      clock: node.clock,
      isLive,
      heardOf: (n) => node.membership.heardOf(n),
      get closing() {
        return node.closing;
      },
      get closed() {
        return node.closed;
      },
      get fenced() {
        return node.fenced;
      },
      dispatch: (kind, id, explicit, msg, hops) => node.routing.dispatch(kind, id, explicit, msg, hops),
      forward: (kind, id, msg, to, hops) => node.routing.forward(kind, id, msg, to, hops),
      refuse: (msg, code, text, kind, id) => node.routing.refuse(msg, code, text, kind, id),
      notifyWatchers: (cell: Cell, reason: TerminationReason) => node.deathWatch.notify(cell, reason),
      movedTo: (kind, id, holder) => node.deathWatch.movedTo(kind, id, holder),
    };
  }

  /** Opens the KV buckets, subscribes, and joins the cluster. */
  async start(): Promise<void> {
    this.stores = await openStores(this.nats, this.options.prefix ?? 'sm', this.options.replicas ?? 1, this.id, this.actors);
    this.sender.fitTo(this.nats.info?.max_payload);
    this.endpoint.open();
    this.membership.subscribe(
      reactToMembership({ membership: this.membership, candidates: this.candidates, waiting: this.waiting, asks: this.asks, deathWatch: this.deathWatch, actors: this.actors }),
    );
    await this.membership.start();
    this.candidates.rebuild(this.membership.members());
    this.actors.startSweep();
    this.fencing.start(this.nats.status());
  }

  // NodeLife

  get closing(): boolean {
    return this.shutdown.closing;
  }

  get closed(): boolean {
    return this.shutdown.closed;
  }

  get fenced(): boolean {
    return this.fencing.fenced;
  }

  // Public API

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
    this.routing.tellSlow(ref, message);
  }

  ask<T = unknown>(ref: ActorRef, message: ActorMessage, options?: AskOptions): Promise<T> {
    return this.routing.ask<T>(ref, message, options?.timeoutMs ?? DEFAULT_ASK_TIMEOUT_MS);
  }

  spawn(kind: string, id: string, placement: SpawnPlacement = {}, args?: unknown): Promise<ActorRef> {
    return this.control.spawn(kind, id, placement, args);
  }

  stop(ref: ActorRef): Promise<void> {
    return this.control.stop(ref);
  }

  watch(watcher: ActorRef, target: ActorRef): void {
    this.deathWatch.watch(watcher, target);
  }

  unwatch(watcher: ActorRef, target: ActorRef): void {
    this.deathWatch.unwatch(watcher, target);
  }

  members(): MemberInfo[] {
    return this.membership.members();
  }

  isLive(nodeId: string): boolean {
    return this.membership.isLive(nodeId);
  }

  onMembership(listener: (event: MembershipEvent) => void): () => void {
    return this.membership.subscribe(listener);
  }

  announce(update: { meta?: Record<string, string | number | boolean>; draining?: boolean }): void {
    this.membership.announce(update);
  }

  metrics(): RuntimeMetrics {
    const { active, depth, hibernated, byKind } = this.actors.gauges();
    const c = this.counters;
    const room = this.waiting.room;
    return {
      messagesIn: c.messagesIn,
      messagesOut: c.messagesOut,
      asksSent: c.asksSent,
      askTimeouts: this.asks.timeouts,
      restarts: c.restarts,
      badMessages: c.badMessages,
      spawnsRefused: c.spawnsRefused,
      strayReplies: c.strayReplies,
      mailboxDropped: c.mailboxDropped,
      asksExpired: c.asksExpired,
      deadLetters: c.deadLetters,
      activations: c.activations,
      answeredInactive: c.answeredInactive,
      hibernations: c.hibernations,
      hibernatedActors: hibernated,
      hostWaits: room.heldTotal,
      hostWaitRefused: room.refusedTotal,
      hostWaitExpired: room.expiredTotal,
      activeActors: active,
      mailboxDepth: depth,
      members: this.membership.size,
      waitingForHost: room.size,
      inboundBacklog: this.endpoint.backlog,
      actorsByKind: byKind,
    };
  }

  close(): Promise<void> {
    return this.shutdown.close();
  }
}
