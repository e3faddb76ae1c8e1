/**
 * What a socket-server actor needs from the listener it runs (implemented once per node by
 * gateway/socket/, which keeps uWebSockets.js out of actors/), and the events it handles.
 */
import type { Logger } from 'pino';
import type { ActorRef, TerminatedMessage } from '../../runtime/mod.js';

/** The lifecycle phases the machine walks through; the listener mirrors the current one. */
export type SocketServerPhase = 'starting' | 'listening' | 'draining' | 'stopped';

export interface SocketServerPort {
  readonly logger: Logger;
  /** The machine entered `phase` (the listener refuses upgrades unless `listening`). */
  enter(phase: SocketServerPhase): void;
  /** Binds the port and announces the server in membership. Rejects when it cannot listen. */
  listen(): Promise<void>;
  /**
   * Announces `draining`, sends every client {t:"drain", retryAfterMs} spread over `spreadMs` (the
   * server's default when undefined) and resolves once every connection is closed (at most the drain
   * grace after the last drain frame).
   */
  drain(spreadMs: number | undefined): Promise<void>;
  /** Stops listening and closes what is left (close code `node_closed`). Idempotent. */
  shutdown(): void;
  /**
   * Starts the session actor of a connection that just opened, as a child of `server` (it watches
   * the session). `connection` is the listener's own object; anything else is ignored (a remote
   * sender cannot open sessions).
   */
  openSession(connection: unknown, server: ActorRef): void;
  /** A connection opened while the server is not listening: close it (the client reconnects). */
  refuseSession(connection: unknown): void;
  /** A watched session stopped; one that failed has its connection closed (`server_error`). */
  sessionEnded(ref: ActorRef, reason: TerminatedMessage['reason']): void;
  /**
   * Pushes may have been missed: send `{t:"resync"}` to every session, spread over a short window so a
   * big node does not send every client to storage at once.
   */
  resync(reason: string): void;
  /** Controls of the session fence may have been missed: re-check every session's claim. */
  revalidate(reason: string): void;
}

/**
 * Events of the socket-server machine. `drain` and `close` may come from any node; the others are sent
 * by the node's own listener and watches.
 */
export type SocketServerEvent =
  /** Drain: tell clients to move (spread over `spreadMs`, default the server's), then stop. */
  | { readonly type: 'drain'; readonly spreadMs?: number }
  /** Stop at once: close every connection with `node_closed`. */
  | { readonly type: 'close' }
  /** A WebSocket opened (local only: `connection` is the listener's object). */
  | { readonly type: 'session.open'; readonly connection: unknown }
  /** The node's NATS connection came back after a drop. */
  | { readonly type: 'nats.reconnected' }
  /** A node hosting the store or push server went down: pushes it owed may never come. */
  | { readonly type: 'storage.lost'; readonly node: string }
  /** This process did not run for `ms` (SIGSTOP, a long GC, a frozen VM). */
  | { readonly type: 'stalled'; readonly ms: number }
  | TerminatedMessage;
