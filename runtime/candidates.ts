/**
 * Placement of virtual actors: for each kind, the live, non-draining members hosting it, and the
 * rendezvous winner of `kind/id` among them (placement.ts). Rebuilt on every membership event;
 * read on every message to a virtual actor that is not active here.
 */
import { hashLanes, pickHashed, type HashLanes } from './placement.js';
import type { MemberInfo } from './types.js';

interface Candidate {
  readonly id: string;
  readonly lanes: HashLanes;
}

export class Candidates {
  private byKind = new Map<string, Candidate[]>();
  /** Hash lanes per node id: computed once per node, not per rebuild. */
  private readonly laneCache = new Map<string, HashLanes>();

  rebuild(members: readonly MemberInfo[]): void {
    const next = new Map<string, Candidate[]>();
    for (const m of members) {
      if (m.draining) continue;
      let lanes = this.laneCache.get(m.nodeId);
      if (lanes === undefined) this.laneCache.set(m.nodeId, (lanes = hashLanes(m.nodeId)));
      for (const k of m.kinds) {
        let list = next.get(k);
        if (list === undefined) next.set(k, (list = []));
        list.push({ id: m.nodeId, lanes });
      }
    }
    this.byKind = next;
  }

  /** The rendezvous winner for virtual `kind/id`, or undefined when no live member hosts the kind. */
  place(kind: string, id: string): string | undefined {
    const cands = this.byKind.get(kind);
    if (cands === undefined || cands.length === 0) return undefined;
    if (cands.length === 1) return cands[0]!.id;
    return pickHashed(hashLanes(`${kind}/${id}`), cands);
  }

  hasHost(kind: string): boolean {
    const cands = this.byKind.get(kind);
    return cands !== undefined && cands.length !== 0;
  }
}
