/**
 * The distributor actor: owns the live socket servers and answers `allocate` and `status` asks.
 *
 * One runs on each gateway node, placed explicitly there (kind `distributor`, id = the node id).
 * Its context is a SocketTable fed by the node's membership: the machine invokes a callback actor
 * that reads the members once and then forwards every membership event. Allocation is a pure
 * function of the table, so two distributors that see the same members answer the same server for
 * the same connection id.
 *
 * The actor is the table's only writer. Each new table (immutable) is also handed to `onTable`, so
 * the HTTP layer on the same node can allocate from the latest one without an ask per request:
 * measured on 2 cores, a local ask per request cost about a quarter of the HTTP path's CPU and kept
 * it under 20k allocations/s (see gateway/distributor/server.ts). Any actor (on any node) can still
 * ask `allocate`.
 *
 * Membership and onTable come from the spawn args (a local spawn may carry functions); a
 * distributor spawned without them (remotely, say) has an empty table and answers `unavailable`.
 */
import { assign, fromCallback, setup } from 'xstate';
import type { ActorInput, MemberInfo, MembershipEvent } from '../../runtime/mod.js';
import { defineActor, reply } from '../../runtime/mod.js';
import type { AllocateRequest, AllocateResult, StatusRequest, StatusResult } from './messages.js';
import { SocketTable } from './socket-table.js';

export const DISTRIBUTOR_KIND = 'distributor';

/** Where the distributor learns about members: the node it runs on (ActorNode has both). */
export interface MembershipSource {
  members(): MemberInfo[];
  onMembership(listener: (event: MembershipEvent) => void): () => void;
}

/** Spawn args of a distributor (local spawn only: it carries functions). */
export interface DistributorArgs {
  readonly membership: MembershipSource;
  /**
   * Called with each new table, first with the initial one while the actor starts, and with
   * undefined when the actor stops (a reader must not keep allocating from a table nobody updates).
   */
  readonly onTable?: (table: SocketTable | undefined) => void;
}

type MembershipFeed = { type: 'membership.reset'; members: readonly MemberInfo[] } | { type: 'membership.event'; event: MembershipEvent };

export type DistributorEvent = AllocateRequest | StatusRequest | MembershipFeed;

const UNAVAILABLE: AllocateResult = { ok: false, reason: 'unavailable' };

/** Reads the members, then forwards each membership event, until the actor stops. */
const membershipFeed = fromCallback<MembershipFeed, DistributorArgs | undefined>(({ input, sendBack }) => {
  if (input === undefined) return undefined;
  // Subscribe before reading the snapshot: events are delivered asynchronously, so none is lost
  // between the two, and applying an event the snapshot already reflects changes nothing.
  const off = input.membership.onMembership((event) => sendBack({ type: 'membership.event', event }));
  sendBack({ type: 'membership.reset', members: input.membership.members() });
  return () => {
    off();
    input.onTable?.(undefined);
  };
});

export const distributorMachine = setup({
  types: {
    context: {} as { table: SocketTable; args: DistributorArgs | undefined },
    events: {} as DistributorEvent,
    input: {} as ActorInput<DistributorArgs>,
  },
  actors: { membershipFeed },
  actions: {
    publish: ({ context }) => context.args?.onTable?.(context.table),
  },
}).createMachine({
  id: DISTRIBUTOR_KIND,
  context: ({ input }) => ({ table: SocketTable.empty, args: input.args }),
  invoke: { src: 'membershipFeed', input: ({ context }) => context.args },
  on: {
    'membership.reset': { actions: [assign({ table: ({ event }) => SocketTable.fromMembers(event.members) }), 'publish'] },
    // apply() returns the same table when the event changes nothing; publishing it again is harmless.
    'membership.event': { actions: [assign({ table: ({ context, event }) => context.table.apply(event.event) }), 'publish'] },
    allocate: {
      actions: ({ context, event }) => {
        const exclude = Array.isArray(event.exclude) ? event.exclude.filter((id): id is string => typeof id === 'string') : undefined;
        const server = typeof event.connectionId === 'string' ? context.table.pick(event.connectionId, exclude) : undefined;
        const result: AllocateResult = server === undefined ? UNAVAILABLE : { ok: true, server };
        reply(event, result);
      },
    },
    status: {
      actions: ({ context, event }) => {
        const result: StatusResult = { socketServers: context.table.size, servers: context.table.servers() };
        reply(event, result);
      },
    },
  },
});

/** The distributor actor kind. A gateway node hosts it (startNode({kinds: [distributorKind]})). */
export const distributorKind = defineActor({
  kind: DISTRIBUTOR_KIND,
  machine: distributorMachine,
  options: {
    placement: 'explicit',
    // Membership events come through the invoked feed, not the mailbox; the mailbox holds asks.
    mailbox: { capacity: 16_384, overflow: 'reject' },
  },
});
