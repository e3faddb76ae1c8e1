/**
 * What a session actor needs from the socket that carries it, and the events it handles.
 *
 * The socket server (gateway/socket/) implements SessionPort once per connection and passes it as the
 * session's spawn argument; the session never sees uWebSockets.js. Everything heavy is shared: the
 * port holds references to one per-node structure, not per-connection closures.
 */
import type { Logger } from 'pino';
import type { FallbackOffer } from '../../protocol/mod.js';
import type { StoreRequest } from '../messages.js';

/** Why the session ends the connection; the socket maps each to a documented close code. */
export type SessionCloseKind = 'replaced' | 'serverError' | 'draining';

export interface SessionPort {
  readonly connectionId: string;
  readonly userId: string;
  readonly deviceId: string;
  /** The socket node's id (sent in `welcome`). */
  readonly nodeId: string;
  /**
   * The storage epoch (sent in `welcome`): names the lifetime of the record store, so clients drop
   * caches from a store that no longer exists. Undefined while the socket node does not know it.
   */
  readonly storeEpoch: string | undefined;
  /** The node's logger; callers add {connectionId} where it helps. */
  readonly logger: Logger;
  /** True once the socket is closed or closing. */
  readonly closing: boolean;
  /**
   * The fallback offer for `welcome` (protocol FallbackOffer): where this connection goes if this node
   * goes away, with a ticket for it. Undefined when there is none to offer.
   */
  fallback(): FallbackOffer | undefined;
  /** Sends one encoded frame; a no-op once the socket is closed. */
  send(frame: Uint8Array): void;
  /** Ends the connection with the close code for `kind`. */
  close(kind: SessionCloseKind): void;
  /**
   * Claims this connection id in the cluster-wide session fence. Answers later with a `fenced`,
   * `replaced` or `fence.failed` event to the session.
   */
  claim(): void;
  /**
   * The session has started: its pending commands were fetched, or the first fetch failed. The socket
   * node counts sessions still starting for its admission control; called once (later calls do nothing).
   */
  started(): void;
  /** Sends a request to the user's store actor (the store kind, id = userId). */
  ask<T>(request: StoreRequest): Promise<T>;
  /** Counts a request in flight; false when the per-connection limit is reached (answer rate_limited). */
  beginRequest(): boolean;
  endRequest(): void;
  /** Draining: close with `draining` once the drain frame and every in-flight answer are flushed. */
  /** Closes (code `draining`) once nothing is in flight or buffered, starting `afterMs` from now. */
  closeWhenFlushed(afterMs?: number): void;
}

/** Events of the session machine. Client frames and pushes arrive here, in order, through the mailbox. */
export type SessionEvent =
  /** A decoded client frame (shape not checked yet). */
  | { readonly type: 'frame'; readonly frame: unknown }
  /** An encoded server frame from the push plane (sync, command, delivered, ...). */
  | { readonly type: 'push'; readonly bytes: Uint8Array }
  /** The fence is ours with this epoch. */
  | { readonly type: 'fenced'; readonly epoch: number }
  /** The fence could not be claimed (NATS or JetStream unreachable). */
  | { readonly type: 'fence.failed'; readonly reason: string }
  /** A newer session of this connection id exists. */
  | { readonly type: 'replaced' }
  /** The node drains: tell the client to reconnect after retryAfterMs, then close. */
  | { readonly type: 'drain'; readonly retryAfterMs: number };

/** What spawn() passes to a session: its port. */
export type SessionArgs = SessionPort;
