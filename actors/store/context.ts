/**
 * What every storage operation works with: the JetStream handles, the readers of the three streams,
 * the users' cached indexes, the limits. One per CloudStore.
 */
import type { JetStreamManager } from '@nats-io/jetstream';
import type { Logger } from 'pino';
import type { StoreLayout } from './layout.js';
import type { StoreLimits } from './limits.js';
import type { StreamReader } from './reader.js';
import type { UserStates } from './user-state.js';
import type { WriteContext } from './writes.js';

export interface StoreContext extends WriteContext {
  readonly jsm: JetStreamManager;
  readonly layout: StoreLayout;
  readonly limits: StoreLimits;
  /** Reader of the record stream. */
  readonly records: StreamReader;
  /** Reader of the command stream. */
  readonly commands: StreamReader;
  readonly states: UserStates;
  readonly logger: Logger;
}

/**
 * Deletes messages no index names any more (replaced record versions, acknowledged commands, writes
 * that lost their fence), in the background: a failure only leaves garbage nobody reads, so it is
 * logged, not reported to the request.
 */
export function discard(ctx: StoreContext, stream: string, seqs: readonly number[], why: string): void {
  for (const seq of seqs) {
    ctx.jsm.streams.deleteMessage(stream, seq, false).catch((err: unknown) => {
      ctx.logger.debug({ err, stream, seq, why }, 'could not delete an unreferenced message; it stays as garbage');
    });
  }
}
