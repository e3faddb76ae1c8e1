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
}

/** The runtime context of the actor `self`. Throws RuntimeConfigError for an actor the runtime did not start. */
export function actorContext(self: object): ActorContext {
  const cell = cellOf(self);
  if (cell === undefined) {
    throw new RuntimeConfigError('actorContext(self) needs the root actor `self` of a machine started by the runtime (not a child actor, not createActor())');
  }
  return cell.context;
}
