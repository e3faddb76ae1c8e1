/**
 * Following a virtual actor to where it is active.
 *
 * A virtual actor is sent to its placed node (rendezvous hashing over the live members), but once
 * active it stays on the node that activated it, its lease holder, until it stops, even when the
 * placement changes (a node joined since). Messages find it through activation: the placed node
 * tries the lease, loses it, and forwards to the holder. `stop` and `watch` must not activate it,
 * so the placed node asks the lease store instead and forwards them to the holder.
 *
 * Lookups run one at a time, in the order the requests arrived: a watch and then a stop from one
 * sender reach the holder in that order, as they would have reached an actor active here.
 */
import type { Logger } from 'pino';

/** Where virtual `kind/id` is active, when that is another live node (undefined: not elsewhere). */
export type HolderLookup = (kind: string, id: string) => Promise<string | undefined>;

export class HolderFollower {
  private chain: Promise<void> = Promise.resolve();

  constructor(
    private readonly lookup: HolderLookup,
    private readonly logger: Logger,
  ) {}

  /**
   * Calls `then` with the node holding virtual `kind/id` if it is another live node, else with
   * undefined, once every earlier follow has been handled. A lease store that cannot be read counts
   * as "not elsewhere" (logged): the request is then handled here, as before following existed.
   */
  follow(kind: string, id: string, then: (holder: string | undefined) => void): void {
    this.chain = this.chain
      .then(async () => {
        let holder: string | undefined;
        try {
          holder = await this.lookup(kind, id);
        } catch (err) {
          this.logger.warn({ err, kind, actor: id }, 'lease lookup failed: stop or watch handled on this node; it may miss the actor if it is active elsewhere');
        }
        then(holder);
      })
      .catch((err: unknown) => this.logger.error({ err, kind, actor: id }, 'following a virtual actor to its holder failed'));
  }
}
