/**
 * One client connection on this node (referenced from the uWebSockets.js user data of its socket),
 * and the port its session actor talks through (SessionPort).
 *
 * Kept small on purpose (TARGETS P4): identity strings from the ticket, a few numbers, and a pointer
 * to the shared server core. No closures, timers or loggers per connection.
 */
import type { WebSocket } from 'uWebSockets.js';
import type { SessionCloseKind, SessionEvent, SessionPort } from '../../actors/session/mod.js';
import type { StoreRequest } from '../../actors/mod.js';
import type { ActorNode, ActorRef } from '../../runtime/mod.js';
import { USER_KEY_LENGTH } from '../../protocol/cluster/mod.js';
import type { Logger } from 'pino';
import { CloseCode, closeReason, type FallbackOffer } from '../../protocol/mod.js';
import type { ResolvedOptions } from './options.js';
import type { TokenBucket } from './rate-limit.js';

/** What every connection shares: implemented once per server. */
export interface ConnectionHost {
  readonly node: ActorNode;
  readonly options: ResolvedOptions;
  /** The storage epoch for `welcome` (store-epoch.ts); undefined while unknown. */
  readonly storeEpoch: string | undefined;
  /** Starts the fence claim for `conn` (answers with an event to its session). */
  claim(conn: Connection): void;
  /** The fallback offer for `conn`'s welcome (fallback.ts), or undefined. */
  fallbackFor(conn: Connection): FallbackOffer | undefined;
  /** Called when `conn` passed its backpressure limit. */
  slowConsumer(conn: Connection): void;
  /** `conn`'s session has started (it may be called again, or after the close: uncount it once). */
  sessionStarted(conn: Connection): void;
}

/**
 * The uWS user data of a socket. uWS copies the user data's own properties into its own object (the
 * prototype is lost), so it holds a pointer to the Connection rather than being one.
 */
export interface SocketData {
  readonly c: Connection;
}

const CLOSE_CODE: Readonly<Record<SessionCloseKind, CloseCode>> = {
  replaced: CloseCode.replaced,
  serverError: CloseCode.serverError,
  draining: CloseCode.draining,
};

// Bit flags (one number instead of several booleans).
const CLOSING = 1;
const CLOSE_WHEN_FLUSHED = 2;
/** Counted in the user's live connections (quota.ts): uncounted when it closes. */
const COUNTED = 4;
/** Claimed in the session fence (claims.ts): announced, and answering older announcements. */
const CLAIMED = 8;
/** A newer session of this connection id announced itself before this one was claimed. */
const SUPERSEDED = 16;
/** Counted in the sessions the node is starting (admission control), from open until started(). */
const STARTING = 32;
/** A new fallback offer is scheduled for it (fallback-sender.ts): made when sent, from the table of that moment. */
const OFFER_PENDING = 64;

export class Connection implements SessionPort, TokenBucket {
  ws: WebSocket<SocketData> | undefined = undefined;
  /** The session actor, once spawned. */
  ref: ActorRef | undefined = undefined;
  /** Events that arrived before the session actor ran (rare: spawn is quick). */
  early: SessionEvent[] | undefined = undefined;
  tokens: number;
  refilledAt: number;
  rejected = 0;
  inflight = 0;
  /** Its entry in the user's live connections (quota.ts), 0 until counted. */
  admission = 0;
  /** The node of its last fallback offer (fallback.ts), undefined: none made or none to make. */
  offered: string | undefined = undefined;
  /** Nodes the client asked its first offer to avoid (the socket URL's `exclude`), until that offer is made. */
  avoid: readonly string[] | undefined = undefined;
  #flags = 0;

  constructor(
    readonly host: ConnectionHost,
    readonly connectionId: string,
    readonly userId: string,
    readonly deviceId: string,
    /** When the socket opened (ms). */
    now: number,
    /** The session's fence epoch (fence.ts FenceClock): orders the sessions of one connection id. */
    readonly epoch: number,
    /** When the user's token behind the ticket expires (ms; 0: the ticket did not say): fallback.ts. */
    readonly tokenExpiresAt = 0,
  ) {
    this.tokens = host.options.limits.burst;
    this.refilledAt = now;
  }

  get userKey(): string {
    return this.connectionId.slice(0, USER_KEY_LENGTH);
  }

  get nodeId(): string {
    return this.host.node.id;
  }

  get storeEpoch(): string | undefined {
    return this.host.storeEpoch;
  }

  get logger(): Logger {
    return this.host.node.logger;
  }

  fallback(): FallbackOffer | undefined {
    return this.host.fallbackFor(this);
  }

  /** True once the socket is closed or closing: nothing more is sent or delivered. */
  get closing(): boolean {
    return (this.#flags & CLOSING) !== 0 || this.ws === undefined;
  }

  /** Counted in the user's live connections (quota.ts). */
  get counted(): boolean {
    return (this.#flags & COUNTED) !== 0;
  }

  /** Claimed in the session fence (claims.ts). */
  get claimed(): boolean {
    return (this.#flags & CLAIMED) !== 0;
  }

  markClaimed(): void {
    this.#flags |= CLAIMED;
  }

  /** A newer session of this id announced itself before this one was claimed: it closes at its claim. */
  get superseded(): boolean {
    return (this.#flags & SUPERSEDED) !== 0;
  }

  markSuperseded(): void {
    this.#flags |= SUPERSEDED;
  }

  /** A new fallback offer is scheduled (set) or was sent (cleared); false when it was already scheduled. */
  markOfferPending(): boolean {
    if ((this.#flags & OFFER_PENDING) !== 0) return false;
    this.#flags |= OFFER_PENDING;
    return true;
  }

  offerSent(): void {
    this.#flags &= ~OFFER_PENDING;
  }

  /** Counts the connection as starting (the socket opened), until started() or endStart(). */
  markStarting(): void {
    this.#flags |= STARTING;
  }

  /** Ends the count of a starting connection: true when it was counted (so the caller uncounts it once). */
  endStart(): boolean {
    if ((this.#flags & STARTING) === 0) return false;
    this.#flags &= ~STARTING;
    return true;
  }

  started(): void {
    this.host.sessionStarted(this);
  }

  /** Counted under `admission` (unique per connection on this node). */
  markCounted(admission: number): void {
    this.#flags |= COUNTED;
    this.admission = admission;
  }

  /** Hands an event to the session actor (queued until it runs). */
  deliver(event: SessionEvent): void {
    if (this.closing) return;
    if (this.ref !== undefined) this.host.node.tell(this.ref, event);
    else (this.early ??= []).push(event);
  }

  /** The session actor runs: remember it and hand it what arrived meanwhile. */
  attach(ref: ActorRef): void {
    this.ref = ref;
    const early = this.early;
    this.early = undefined;
    if (early) for (const e of early) this.host.node.tell(ref, e);
  }

  send(frame: Uint8Array): void {
    const ws = this.ws;
    if (ws === undefined || (this.#flags & CLOSING) !== 0) return;
    ws.send(frame, true, false);
    if (ws.getBufferedAmount() > this.host.options.limits.maxBackpressureBytes) this.host.slowConsumer(this);
  }

  close(kind: SessionCloseKind): void {
    this.closeWith(CLOSE_CODE[kind]);
  }

  /** Ends the socket with a documented close code. uWS calls the close handler synchronously. */
  closeWith(code: CloseCode): void {
    const ws = this.ws;
    if (ws === undefined || (this.#flags & CLOSING) !== 0) return;
    this.#flags |= CLOSING;
    ws.end(code, closeReason[code]);
  }

  /** The socket is gone (close handler): forget it. */
  detach(): void {
    this.#flags |= CLOSING;
    this.ws = undefined;
    this.early = undefined;
  }

  claim(): void {
    this.host.claim(this);
  }

  ask<T>(request: StoreRequest): Promise<T> {
    const { node, options } = this.host;
    return node.ask<T>({ kind: options.storeKind, id: this.userId }, request, { timeoutMs: options.limits.askTimeoutMs });
  }

  beginRequest(): boolean {
    if (this.inflight >= this.host.options.limits.maxInflight) return false;
    this.inflight++;
    return true;
  }

  endRequest(): void {
    this.inflight--;
    if ((this.#flags & CLOSE_WHEN_FLUSHED) !== 0) this.closeIfFlushed();
  }

  closeWhenFlushed(afterMs = 0): void {
    if (afterMs > 0) {
      setTimeout(() => this.closeWhenFlushed(), afterMs).unref();
      return;
    }
    this.#flags |= CLOSE_WHEN_FLUSHED;
    this.closeIfFlushed();
  }

  /** Called when the socket's send buffer drained, and after each answer while draining. */
  closeIfFlushed(): void {
    const ws = this.ws;
    if (ws === undefined || (this.#flags & CLOSE_WHEN_FLUSHED) === 0) return;
    if (this.inflight === 0 && ws.getBufferedAmount() === 0) this.closeWith(CloseCode.draining);
  }
}
