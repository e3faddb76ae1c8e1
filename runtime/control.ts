/**
 * Control RPCs between nodes: spawn and stop of an actor on another node (asking side and
 * answering side). They travel as envelopes on the node subject and are answered on the asker's
 * reply subject like asks, with the same deadlines and node-down handling (asks.ts).
 *
 * A spawn from another node of a local-only kind (`remoteSpawn: false`) is answered with
 * `spawn_refused` (SpawnRefusedError) and starts nothing; so is one of a kind not hosted here
 * (`no_such_actor`) or of a virtual kind (`bad_message`). Every refusal is counted.
 */
import { Pending, type PendingAsks } from './asks.js';
import { MAX_HOPS, MAX_ID_LENGTH, Op, type Envelope } from './envelope.js';
import { ActorRuntimeError, BadMessageError, NodeDownError, NoSuchActorError, RuntimeConfigError, SpawnRefusedError, UnavailableError, WireCodes } from './errors.js';
import type { HolderFollower } from './follow.js';
import type { Counters, LocalActors } from './local-actors.js';
import type { Membership } from './membership.js';
import { pickByRendezvous } from './placement.js';
import { DEFAULT_ASK_TIMEOUT_MS, type Routing } from './routing.js';
import type { Sender } from './sender.js';
import type { NodeLife } from './shutdown.js';
import type { ActorRef, SpawnPlacement } from './types.js';

export interface ControlDeps {
  readonly id: string;
  readonly counters: Counters;
  readonly actors: LocalActors;
  readonly membership: Membership;
  readonly asks: PendingAsks;
  readonly sender: Sender;
  readonly routing: Routing;
  readonly follower: HolderFollower;
  readonly life: NodeLife;
}

export class Control {
  constructor(private readonly d: ControlDeps) {}

  // Asking side

  async spawn(kind: string, id: string, placement: SpawnPlacement, args: unknown): Promise<ActorRef> {
    const d = this.d;
    if (typeof id !== 'string' || id.length > MAX_ID_LENGTH) throw new RuntimeConfigError(`actor id must be a string of at most ${MAX_ID_LENGTH} characters`);
    if (d.life.closing) throw new UnavailableError(`node ${d.id} is closing; spawn on another node`);
    let node: string | undefined = placement.node;
    if (node === undefined && placement.role !== undefined) {
      const role = placement.role;
      const cands = d.membership.members().filter((m) => !m.draining && m.roles.includes(role) && m.kinds.includes(kind));
      node = pickByRendezvous(`${kind}/${id}`, cands.map((m) => ({ id: m.nodeId, weight: 1 })));
      if (node === undefined) throw new NoSuchActorError(`no live node with role ${role} hosts actor kind ${kind}`);
    }
    if (node === undefined || node === d.id) return d.actors.spawn(kind, id, args);
    if (d.actors.specs.get(kind)?.remoteSpawn === false) {
      // This node knows the kind is local-only: no need to ask the other node to refuse it.
      throw new SpawnRefusedError(`cannot spawn ${kind}/${id} on node ${node}: kind ${kind} is local-only (remoteSpawn: false); spawn it from its own node`);
    }
    if (!d.membership.isLive(node)) throw new NodeDownError(`cannot spawn ${kind}/${id} on node ${node}: it is not a live member`);
    const value = await this.call<{ kind?: unknown; id?: unknown; node?: unknown }>(node, Op.spawn, kind, id, node, args, { kind, id, node });
    if (value?.node !== node) throw new BadMessageError(`node ${node} answered spawn of ${kind}/${id} with an unexpected value`);
    return { kind, id, node };
  }

  async stop(ref: ActorRef): Promise<void> {
    const d = this.d;
    let node = ref.node;
    if (node === undefined) node = d.routing.nodeOfTarget(ref);
    if (node === undefined) return; // a virtual actor no node hosts is not running anywhere
    if (node === d.id && d.routing.followsHere(ref.kind, ref.id, ref.node !== undefined)) {
      // Placed here but not active here: it may be active at its lease holder (follow.ts).
      const holder = await new Promise<string | undefined>((resolve) => d.follower.follow(ref.kind, ref.id, resolve));
      if (holder !== undefined) {
        d.actors.forgetHolder(ref.kind, ref.id); // it stops there: its next message activates it at its placement
        node = holder;
      }
    }
    if (node === d.id) {
      const holder = await d.actors.stop(ref.kind, ref.id, ref.node !== undefined);
      if (holder === undefined) return;
      d.actors.forgetHolder(ref.kind, ref.id); // activating here lost to `holder`: it stops there
      node = holder;
    }
    if (!d.membership.isLive(node)) throw new NodeDownError(`node ${node} of ${ref.kind}/${ref.id} is not a live member`);
    await this.call(node, Op.stop, ref.kind, ref.id, ref.node, undefined, ref);
  }

  private call<T>(node: string, op: typeof Op.spawn | typeof Op.stop, kind: string, id: string, explicitNode: string | undefined, body: unknown, target: ActorRef): Promise<T> {
    const d = this.d;
    const corr = d.asks.corr();
    return new Promise<T>((resolve, reject) => {
      const e: Envelope = { op, kind, id, explicit: explicitNode !== undefined, body, replyNode: d.id, corr, hops: 0 };
      d.asks.add(new Pending(corr, node, target, DEFAULT_ASK_TIMEOUT_MS, resolve as (v: unknown) => void, reject));
      try {
        d.sender.envelope(node, e);
      } catch (err) {
        d.asks.take(corr);
        reject(new BadMessageError(`arguments for ${kind}/${id} cannot be encoded as MessagePack (only local spawns may pass other values)`, { cause: err }));
      }
    });
  }

  // Answering side

  onSpawn(e: Envelope): void {
    const replyNode = e.replyNode!;
    const corr = e.corr!;
    try {
      const ref = this.d.actors.spawn(e.kind, e.id, e.body, replyNode);
      this.d.sender.replyOk(replyNode, corr, ref);
    } catch (err) {
      this.d.counters.spawnsRefused++;
      const code = err instanceof ActorRuntimeError ? err.code : WireCodes.badMessage;
      this.d.sender.replyFail(replyNode, corr, code, (err as Error).message);
    }
  }

  onStop(e: Envelope): void {
    const d = this.d;
    if (e.hops < MAX_HOPS && d.routing.followsHere(e.kind, e.id, e.explicit)) {
      d.follower.follow(e.kind, e.id, (holder) => {
        if (holder === undefined) return this.stopHere(e);
        d.actors.forgetHolder(e.kind, e.id); // it stops there: its next message activates it at its placement
        d.sender.envelope(holder, { ...e, hops: e.hops + 1 });
      });
      return;
    }
    this.stopHere(e);
  }

  private stopHere(e: Envelope): void {
    this.d.actors.stop(e.kind, e.id, e.explicit).then(
      (holder) => {
        if (holder === undefined || e.hops >= MAX_HOPS) return this.d.sender.replyOk(e.replyNode!, e.corr!, true);
        // It was activating here and that activation found it active at `holder`: the stop goes there.
        this.d.actors.forgetHolder(e.kind, e.id);
        this.d.sender.envelope(holder, { ...e, hops: e.hops + 1 });
      },
      (err: unknown) => this.d.sender.replyFail(e.replyNode!, e.corr!, err instanceof ActorRuntimeError ? err.code : WireCodes.unavailable, (err as Error).message),
    );
  }
}
