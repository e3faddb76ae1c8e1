/**
 * Public types of the Syncmesh actor runtime. The implementation lives beside this file; what is
 * public is listed by name in runtime/mod.ts.
 */
import type { AnyStateMachine, Snapshot } from 'xstate';
import type { Logger } from 'pino';
import type { NatsConnection } from '@nats-io/nats-core';

/**
 * Address of an actor: plain data, safe to put inside any message.
 * `node` is set for explicitly placed actors (they live on that node until they stop); virtual
 * actors leave it out and are found by hashing `kind/id` over the nodes that host `kind`.
 */
export interface ActorRef {
  readonly kind: string;
  readonly id: string;
  readonly node?: string;
}

/** Every message to an actor is an XState event: a plain object with a string `type`. */
export interface ActorMessage {
  readonly type: string;
  readonly [field: string]: unknown;
}

/** What a full mailbox does with one more message. */
export type MailboxOverflow = 'reject' | 'drop-oldest';

export interface MailboxOptions {
  /** Messages waiting, at most (default 1024). */
  capacity?: number;
  /**
   * `reject` (default): the new message is refused: a `tell` is dropped and counted, an `ask`
   * fails with MailboxFullError. `drop-oldest`: the oldest waiting message is dropped and counted
   * (its ask, if any, fails with MailboxFullError).
   */
  overflow?: MailboxOverflow;
}

export interface SupervisionOptions {
  /** Restarts allowed within `withinMs` before the actor is stopped for good (default 5). */
  maxRestarts?: number;
  withinMs?: number; // default 60_000
  /** First restart delay, doubled each time up to maxBackoffMs (defaults 50 and 5_000). */
  backoffMs?: number;
  maxBackoffMs?: number;
}

/**
 * Packs the persisted snapshot of an actor being hibernated into something smaller, and rebuilds it
 * when the actor wakes. `unpack(pack(s), input)` must restore what `s` restores. `pack` may return its
 * argument when it cannot pack it (unpack then gets the snapshot back); it must not return undefined.
 */
export interface HibernationCodec {
  pack(snapshot: Snapshot<unknown>): unknown;
  unpack(packed: unknown, input: ActorInput): Snapshot<unknown>;
}

export interface ActorKindOptions {
  /** `virtual` (default): placed by hash, activated on first message. `explicit`: started with spawn(). */
  placement?: 'virtual' | 'explicit';
  /** Virtual actors stop after this long without a message (default 60_000; 0 = never). */
  passivateAfterMs?: number;
  /**
   * Explicit kinds only: after this long without a message, the XState actor is stopped and only its
   * persisted snapshot kept in memory (a few hundred bytes instead of a running actor's few KB); the
   * next message starts it again from the snapshot, without running entry actions. The actor stays
   * where it is, with its ref, mailbox and supervision. For machines with no delayed transitions
   * (`after`) and no invoked or spawned children: those do not survive it. Default 0 (never).
   */
  hibernateAfterMs?: number;
  /**
   * With hibernateAfterMs: how a hibernated actor's snapshot is kept (default: XState's persisted
   * snapshot as it is, a handful of objects). A kind whose context is rebuilt from its input can keep
   * far less: the session keeps only its state's name.
   */
  hibernation?: HibernationCodec;
  mailbox?: MailboxOptions;
  supervision?: SupervisionOptions;
  /** Persist the XState snapshot to JetStream KV after each processed message, and resume from it. */
  persist?: boolean;
  /**
   * Explicit kinds only. `false`: local-only: spawn() from another node is refused with
   * SpawnRefusedError (wire code `spawn_refused`), answered to the caller; only the hosting node's
   * own spawn() starts one. For actors whose args cannot cross the wire (a socket). Default true.
   */
  remoteSpawn?: boolean;
  /**
   * Virtual kinds only: messages answered without activating the actor. Called for a message to an
   * actor of this kind that is not active on this node, just before the runtime would activate it (a
   * lease write, the XState actor's start, and its passivation later). Return `false` to activate as
   * usual. Return `true` to take the message: the handler then answers it (reply() or replyError()
   * for an ask) or calls `actor.activate()`, which routes it on to the actor after all (as if the
   * handler had returned false; to the running actor, if another message activated it meanwhile).
   * For reads of durable state that any node may make at any time, such as the storage's
   * pending-commands look-up at every connect: a reconnect storm otherwise activates the store actor of
   * every returning user (docs/performance.md, P7). The handler runs outside the actor's single
   * activation, beside it: it must not change what the actor owns, and what it reads may be
   * changing. Errors it throws are logged and the message goes on to the actor.
   */
  withoutActivation?: (message: ActorMessage, actor: InactiveActor) => boolean;
}

/** The actor a {@link ActorKindOptions.withoutActivation} handler was given a message for. */
export interface InactiveActor {
  readonly kind: string;
  readonly id: string;
  /** Routes the message on to the actor, activating it (once; later calls do nothing). */
  activate(): void;
}

/** What the runtime passes to a machine as `input`. */
export interface ActorInput<TArgs = unknown> {
  readonly kind: string;
  readonly id: string;
  readonly node: string;
  /** Arguments given to spawn() (only local spawns may carry non-serializable values). */
  readonly args: TArgs | undefined;
}

/** An actor kind: a name plus an XState v5 machine (plus options). */
export interface ActorKind<TMachine extends AnyStateMachine = AnyStateMachine> {
  readonly kind: string;
  readonly machine: TMachine;
  readonly options: Readonly<ActorKindOptions>;
}

/** Where spawn() starts an actor. Leave empty for "this node". */
export interface SpawnPlacement {
  /** A named node. */
  node?: string;
  /** Any live node with this role (picked by hashing the actor id over them). */
  role?: string;
}

export interface AskOptions {
  /** Deadline in milliseconds (default 5_000). */
  timeoutMs?: number;
}

/** A cluster member as seen by this node. */
export interface MemberInfo {
  readonly nodeId: string;
  readonly roles: readonly string[];
  readonly kinds: readonly string[];
  /** Free-form facts a node announces (for example a socket server's host, port and capacity). */
  readonly meta: Readonly<Record<string, string | number | boolean>>;
  /** Set while the node is leaving: it takes no new actors. */
  readonly draining: boolean;
  readonly startedAt: number;
  readonly lastSeen: number;
}

export type MembershipEvent =
  | { readonly type: 'up'; readonly member: MemberInfo }
  | { readonly type: 'updated'; readonly member: MemberInfo }
  | { readonly type: 'down'; readonly member: MemberInfo; readonly reason: 'left' | 'timeout' };

/** Sent to a watcher when a watched actor stops, fails for good, or its node goes down. */
export interface TerminatedMessage extends ActorMessage {
  readonly type: 'actor.terminated';
  readonly ref: ActorRef;
  readonly reason: 'stopped' | 'failed' | 'node-down' | 'passivated';
}

/** Counters a metrics endpoint reads. All are totals since the node started, except gauges. */
export interface RuntimeMetrics {
  readonly messagesIn: number;
  readonly messagesOut: number;
  readonly asksSent: number;
  readonly askTimeouts: number;
  readonly restarts: number;
  /** Malformed frames on this node's subjects (not MessagePack, wrong shape): dropped, answered `bad_message` when they carry a reply address. */
  readonly badMessages: number;
  /** Spawns from other nodes refused: kind not hosted, virtual, or local-only (`remoteSpawn: false`). */
  readonly spawnsRefused: number;
  /** Replies that matched no ask in flight: late (after the deadline), duplicate or forged. Ignored. */
  readonly strayReplies: number;
  readonly mailboxDropped: number;
  /** Asks not run because they arrived or waited past their deadline (the asker had given up): answered `timeout`. */
  readonly asksExpired: number;
  /** Tells that reached no actor (explicit actor not running, no node hosts the kind, node closed). */
  readonly deadLetters: number;
  /** Actors started on this node (virtual activations and spawns). */
  readonly activations: number;
  /** Messages a virtual kind answered without activating their actor (ActorKindOptions.withoutActivation). */
  readonly answeredInactive: number;
  /** Times an idle explicit actor was hibernated (ActorKindOptions.hibernateAfterMs). */
  readonly hibernations: number;
  /** Actors hibernated now: counted in activeActors, their XState actor stopped until the next message. */
  readonly hibernatedActors: number;
  /** Messages to virtual actors that had to wait for a node hosting their kind (NodeOptions.hostWaitMs). */
  readonly hostWaits: number;
  /** Of those, refused because hostWaitCapacity messages already waited for the kind. */
  readonly hostWaitRefused: number;
  /** Of those, given up on: no host joined in time (asks: NoSuchActorError; tells: also dead letters). */
  readonly hostWaitExpired: number;
  /** Gauges. */
  readonly activeActors: number;
  readonly mailboxDepth: number;
  readonly members: number;
  /** Messages waiting for a node hosting their kind now. */
  readonly waitingForHost: number;
  /** Envelopes received and not handled yet: above zero, the node is behind (it handles them in time slices). */
  readonly inboundBacklog: number;
  /** Running actors and queued messages per kind this node hosts (gauges). */
  readonly actorsByKind: Readonly<Record<string, { readonly active: number; readonly mailboxDepth: number }>>;
}

export interface NodeOptions {
  /** A connection, or server URLs to connect to. */
  nats: NatsConnection | string | string[];
  /** Unique node id (default: random). Subject-safe: [A-Za-z0-9_-]. */
  nodeId?: string;
  roles?: string[];
  /** Kinds this node can host. */
  kinds?: ActorKind[];
  meta?: Record<string, string | number | boolean>;
  logger?: Logger;
  /** Heartbeat period (default 1_000 ms); a member silent for downAfterMs (default 3_000 ms) is down. */
  heartbeatMs?: number;
  downAfterMs?: number;
  /** Subject prefix (default `sm`), so several clusters can share one NATS. */
  prefix?: string;
  /** JetStream KV replicas for leases and snapshots (default 1; 3 on a 3-server cluster). */
  replicas?: number;
  /**
   * A message (tell or ask) to a virtual actor whose kind no live, non-draining member hosts waits
   * up to this long for one to join, then fails: an ask with NoSuchActorError (at its own deadline
   * if that is sooner), a tell as a dead letter. Covers start-up order and a hosting node's restart.
   * Default 3_000 ms; 0 = fail at once.
   */
  hostWaitMs?: number;
  /** Messages waiting per kind, at most (default 10_000); more are refused with UnavailableError (asks) or dropped (tells). */
  hostWaitCapacity?: number;
  /**
   * Idle virtual actors passivating at once, at most (default 32): each removes its lease, a JetStream
   * delete, and actors activated together (a reconnect storm) go idle together; the rest wait their turn.
   */
  maxPassivationsInFlight?: number;
  /** Clock, for tests. */
  now?: () => number;
  /**
   * Called when an ask to another node settles, with its round trip in seconds and whether it was
   * answered (false: an error answer, a timeout, its node went down). For latency metrics; keep it cheap.
   */
  onRemoteAsk?: (seconds: number, answered: boolean) => void;
}

/** A process in the cluster. Created with startNode(). */
export interface ActorNode {
  readonly id: string;
  readonly roles: readonly string[];
  readonly logger: Logger;
  readonly nats: NatsConnection;
  /** Fire and forget. Ordered per sender and receiver; at most once. */
  tell(ref: ActorRef, message: ActorMessage): void;
  /** Request/response with a deadline. Rejects with a typed error (see runtime/errors.ts). */
  ask<T = unknown>(ref: ActorRef, message: ActorMessage, options?: AskOptions): Promise<T>;
  /** Starts an actor (explicit placement). Resolves with its ref once it runs. */
  spawn(kind: string, id: string, placement?: SpawnPlacement, args?: unknown): Promise<ActorRef>;
  /** Stops an actor; its watchers get `actor.terminated` with reason `stopped`. */
  stop(ref: ActorRef): Promise<void>;
  /** `watcher` gets an `actor.terminated` message when `target` stops or its node goes down. */
  watch(watcher: ActorRef, target: ActorRef): void;
  unwatch(watcher: ActorRef, target: ActorRef): void;
  /** Live members, this node included. */
  members(): MemberInfo[];
  /** Whether `nodeId` is a live member (this node included): members() without building the list. */
  isLive(nodeId: string): boolean;
  onMembership(listener: (event: MembershipEvent) => void): () => void;
  /** Changes what this node announces (for example `draining`). */
  announce(update: { meta?: Record<string, string | number | boolean>; draining?: boolean }): void;
  metrics(): RuntimeMetrics;
  /** Leaves the cluster: stops taking actors, stops local actors (persisting them), says goodbye. */
  close(): Promise<void>;
}
