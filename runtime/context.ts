/**
 * actorContext(self): what an action needs to talk to other actors. `self` is the XState actor an
 * action receives (`({ self }) => ...`); the runtime knows which cell started it.
 */
import type { Logger } from 'pino';
import { cellOf } from './cell.js';
import { RuntimeConfigError } from './errors.js';
import type { ActorNode, ActorRef } from './types.js';

export interface ActorContext {
  /** This actor's address (with `node` for explicitly placed actors). */
  readonly ref: ActorRef;
  /** The node hosting this actor: tell/ask/watch others through it. */
  readonly node: ActorNode;
  /** A pino child logger with {node, kind, actor}. */
  readonly logger: Logger;
  /**
   * Aborted when this activation is over, so long operations (a write, a fetch) can stop:
   * - at once when this node learns that the actor's lease is gone: it self-fenced (cut off from
   *   NATS, or its event loop stalled past downAfterMs), or a snapshot write found another holder.
   *   `signal.reason` is then a LeaseLostError. Another node may already run the actor: work
   *   started here must not be committed any more (see docs/runtime.md, "Single activation");
   * - when the actor begins to stop (stop, passivation, failure for good, node leave), before its
   *   final snapshot write; `signal.reason` is then an UnavailableError. Work the actor queued
   *   itself (a promise chain) checks it before it starts.
   * A restart after a failure is the same activation: the signal does not fire.
   */
  readonly signal: AbortSignal;
  /**
   * `signal.aborted`, read without creating the signal. An AbortController is an EventTarget, costly to
   * build: an actor that only checks whether its activation is over, once per message, reads this
   * (the store actor: one per user activation, thousands a second in a reconnect storm).
   */
  readonly aborted: boolean;
}

/** The runtime context of the actor `self`. Throws RuntimeConfigError for an actor the runtime did not start. */
export function actorContext(self: object): ActorContext {
  const cell = cellOf(self);
  if (cell === undefined) {
    throw new RuntimeConfigError('actorContext(self) needs the root actor `self` of a machine started by the runtime (not a child actor, not createActor())');
  }
  return cell.context;
}
