/**
 * The live socket servers a distributor allocates over, and the allocation itself.
 *
 * A cluster member is a socket server when it has the role `socket`, is not draining, and announces
 * a socket server in its meta (protocol/cluster/membership.ts has the keys). A member announcing none
 * is ignored (it may still be starting) until an `updated` event brings them.
 *
 * The table is immutable: applying a membership event returns a new table (or the same one when
 * nothing changed), so an allocation in flight never sees a half-applied change.
 */
import type { MemberInfo, MembershipEvent } from '../../runtime/mod.js';
import { PUSH_SLOTS, SOCKET_ROLE, pushSlot, readSocketMeta } from '../../protocol/cluster/mod.js';
import { pickPrepared, prepareCandidates, type PreparedCandidate } from './rendezvous.js';

/** A socket server clients can be sent to. */
export interface SocketServer {
  /** Node id (the `id` the rendezvous hash uses and the `node` a ticket is bound to). */
  readonly id: string;
  readonly host: string;
  readonly port: number;
  readonly url: string;
  /** Rendezvous weight (the member's `capacity`). */
  readonly weight: number;
  /** The node's current run, put in its tickets (protocol/cluster/membership.ts). */
  readonly run?: string;
}

/** The socket server a member announces, or undefined when it is not (or not yet, or no longer) one. */
export function socketServerOf(member: MemberInfo): SocketServer | undefined {
  if (member.draining || !member.roles.includes(SOCKET_ROLE)) return undefined;
  const announced = readSocketMeta(member.meta);
  return announced === undefined ? undefined : { id: member.nodeId, ...announced };
}

function sameServer(a: SocketServer, b: SocketServer): boolean {
  return a.host === b.host && a.port === b.port && a.url === b.url && a.weight === b.weight && a.run === b.run;
}

/** An immutable set of live socket servers with the allocation function over it. */
export class SocketTable {
  static readonly empty = new SocketTable(new Map());

  readonly #servers: ReadonlyMap<string, SocketServer>;
  readonly #prepared: readonly PreparedCandidate<SocketServer>[];
  /** The winner of each push slot, filled as slots are asked for (the table never changes). */
  readonly #bySlot: (SocketServer | undefined)[] = [];

  private constructor(servers: ReadonlyMap<string, SocketServer>) {
    this.#servers = servers;
    // Sorted so the candidate order (and thus tie-breaking) never depends on event order.
    this.#prepared = prepareCandidates([...servers.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)));
  }

  /** A table of the socket servers among `members`. */
  static fromMembers(members: readonly MemberInfo[]): SocketTable {
    const servers = new Map<string, SocketServer>();
    for (const member of members) {
      const server = socketServerOf(member);
      if (server) servers.set(server.id, server);
    }
    return servers.size === 0 ? SocketTable.empty : new SocketTable(servers);
  }

  /** A table of exactly `servers` (the list another table's servers() gave: a copy sent to another thread). */
  static of(servers: readonly SocketServer[]): SocketTable {
    return servers.length === 0 ? SocketTable.empty : new SocketTable(new Map(servers.map((s) => [s.id, s])));
  }

  /** The table after `event`; `this` when the event changes nothing the allocation depends on. */
  apply(event: MembershipEvent): SocketTable {
    const id = event.member.nodeId;
    const before = this.#servers.get(id);
    const after = event.type === 'down' ? undefined : socketServerOf(event.member);
    if (before === undefined && after === undefined) return this;
    if (before !== undefined && after !== undefined && sameServer(before, after)) return this;
    const servers = new Map(this.#servers);
    if (after === undefined) servers.delete(id);
    else servers.set(id, after);
    return servers.size === 0 ? SocketTable.empty : new SocketTable(servers);
  }

  get size(): number {
    return this.#servers.size;
  }

  servers(): SocketServer[] {
    return [...this.#servers.values()];
  }

  get(id: string): SocketServer | undefined {
    return this.#servers.get(id);
  }

  /**
   * The socket server for `connectionId`: weighted rendezvous over the servers, keyed by the id's push
   * slot (protocol/cluster/push.ts), so the connections of one slot share a server and a socket node's
   * NATS interest is per slot. Or undefined when there is none. While the table does not change, the
   * same id always gets the same server. `exclude` (node ids the client failed to reach, PROTOCOL
   * extension) removes servers from the candidates unless that would remove them all.
   */
  pick(connectionId: string, exclude?: readonly string[]): SocketServer | undefined {
    return this.pickSlot(pushSlot(connectionId), exclude);
  }

  /** pick() for every connection id of push slot `slot` (the allocation depends on the slot only). */
  pickSlot(slot: string, exclude?: readonly string[]): SocketServer | undefined {
    if (exclude === undefined || exclude.length === 0) {
      const i = Number.parseInt(slot, 16);
      if (!(i >= 0 && i < PUSH_SLOTS)) return pickPrepared(slot, this.#prepared);
      let server = this.#bySlot[i];
      if (server === undefined) {
        server = pickPrepared(slot, this.#prepared);
        this.#bySlot[i] = server;
      }
      return server;
    }
    // The same rendezvous over the servers minus the excluded ones: a pure function of (table, slot,
    // exclude set), so every distributor answers alike, and slots that exclude nothing live keep their
    // server. Excluding every server would leave a client nowhere to go: the exclusion is then
    // ignored (the client's view of what is down is a hint, membership is the authority).
    const remaining = this.#prepared.filter((p) => !exclude.includes(p.candidate.id));
    return pickPrepared(slot, remaining.length > 0 ? remaining : this.#prepared);
  }
}
