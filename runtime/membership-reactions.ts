/**
 * What a node does when the cluster changes (membership.ts emits the events):
 *
 *   any event     placement is rebuilt (candidates.ts)
 *   up, updated   messages waiting for a host of a kind that now has one go out (waiting.ts)
 *   down          asks in flight to that node fail with NodeDownError; watches that depended on
 *                 it end with `node-down` (death-watch.ts); holders of virtual actors it had are
 *                 forgotten (their next message activates them at their new placement)
 */
import type { PendingAsks } from './asks.js';
import type { Candidates } from './candidates.js';
import type { DeathWatch } from './death-watch.js';
import { NodeDownError } from './errors.js';
import type { LocalActors } from './local-actors.js';
import type { Membership } from './membership.js';
import type { MembershipEvent } from './types.js';
import type { Waiting } from './waiting.js';

export interface MembershipReactionDeps {
  readonly membership: Membership;
  readonly candidates: Candidates;
  readonly waiting: Waiting;
  readonly asks: PendingAsks;
  readonly deathWatch: DeathWatch;
  readonly actors: LocalActors;
}

export function reactToMembership(d: MembershipReactionDeps): (e: MembershipEvent) => void {
  return (e) => {
    d.candidates.rebuild(d.membership.members());
    if (e.type !== 'down') {
      d.waiting.release();
      return;
    }
    const n = e.member.nodeId;
    const how = e.reason === 'left' ? 'left the cluster' : 'went down';
    d.asks.failNode(n, (p) => new NodeDownError(`node ${n} ${how} before ${p.target.kind}/${p.target.id} answered`));
    d.deathWatch.nodeDown(n);
    d.actors.forgetNode(n);
  };
}
