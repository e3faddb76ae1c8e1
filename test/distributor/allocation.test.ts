/**
 * The allocation function: weighted rendezvous hashing over live socket servers, measured
 * numerically against TARGETS P6 (skew, movement) and for stability and speed.
 */
import { describe, expect, it } from 'vitest';
import { connectionId } from '../../protocol/cluster/mod.js';
import { rendezvousWinner, prepareCandidates, pickPrepared, rendezvousUnit } from '../../actors/distributor/rendezvous.js';
import { SocketTable, socketServerOf } from '../../actors/distributor/socket-table.js';
import type { MemberInfo } from '../../runtime/types.js';

const KEYS = 100_000;
const keys: string[] = Array.from({ length: KEYS }, (_, i) => connectionId(`user-${i % 7919}`, `device-${i}`));

function nodes(n: number, prefix = 'socket-'): { id: string; weight: number }[] {
  return Array.from({ length: n }, (_, i) => ({ id: `${prefix}${i}`, weight: 1 }));
}

function assign(candidates: { id: string; weight: number }[]): string[] {
  const prepared = prepareCandidates(candidates);
  return keys.map((k) => pickPrepared(k, prepared)!.id);
}

function counts(picks: string[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const p of picks) m.set(p, (m.get(p) ?? 0) + 1);
  return m;
}

function member(nodeId: string, meta: MemberInfo['meta'], extra: Partial<MemberInfo> = {}): MemberInfo {
  return { nodeId, roles: ['socket'], kinds: [], meta, draining: false, startedAt: 0, lastSeen: 0, ...extra };
}

function socketMember(i: number, extra: Partial<MemberInfo> = {}, capacity?: number): MemberInfo {
  const port = 9000 + i;
  return member(`sock-${i}`, { socketHost: '127.0.0.1', socketPort: port, socketUrl: `ws://127.0.0.1:${port}/ws`, ...(capacity !== undefined && { capacity }) }, extra);
}

describe('distributor allocation', () => {
  it('rendezvous - u is uniform on (0, 1)', () => {
    const bins = new Array<number>(10).fill(0);
    let outside = 0;
    for (const k of keys) {
      const u = rendezvousUnit(k, 'socket-0');
      if (!(u > 0 && u < 1)) outside++;
      else bins[Math.floor(u * 10)]!++;
    }
    expect(outside).toBe(0);
    // Each decile holds 10% of the keys, within 5% of that (sd is ~1% here).
    for (const b of bins) expect(Math.abs(b - KEYS / 10) / (KEYS / 10)).toBeLessThan(0.05);
  });

  it('rendezvous - load skew max/mean is at most 1.1 over 4 nodes (P6)', () => {
    for (const prefix of ['socket-', 'n', 'gateway-host-a-']) {
      const c = counts(assign(nodes(4, prefix)));
      expect(c.size).toBe(4);
      const skew = Math.max(...c.values()) / (KEYS / 4);
      expect(skew).toBeLessThanOrEqual(1.1);
    }
  });

  it('rendezvous - at most 1.2/(N+1) of ids move when an (N+1)th node joins (P6), and only to it', () => {
    for (const n of [1, 2, 3, 4, 8, 16]) {
      const before = assign(nodes(n));
      const after = assign(nodes(n + 1));
      let moved = 0;
      let elsewhere = 0;
      for (let i = 0; i < KEYS; i++) {
        if (before[i] !== after[i]) {
          moved++;
          if (after[i] !== `socket-${n}`) elsewhere++;
        }
      }
      expect(elsewhere).toBe(0);
      expect(moved / KEYS).toBeLessThanOrEqual(1.2 / (n + 1));
      expect(moved / KEYS).toBeGreaterThan(0.8 / (n + 1));
    }
  });

  it('rendezvous - when a node leaves only its ids move, spread over the others', () => {
    const before = assign(nodes(5));
    const after = assign(nodes(5).filter((c) => c.id !== 'socket-2'));
    const moved = new Map<string, number>();
    let wrongly = 0;
    for (let i = 0; i < KEYS; i++) {
      if (before[i] === 'socket-2') moved.set(after[i]!, (moved.get(after[i]!) ?? 0) + 1);
      else if (after[i] !== before[i]) wrongly++;
    }
    expect(wrongly).toBe(0);
    const total = [...moved.values()].reduce((a, b) => a + b, 0);
    for (const v of moved.values()) expect(Math.abs(v / total - 0.25)).toBeLessThan(0.03);
  });

  it('rendezvous - weights set the share of ids', () => {
    const c = counts(assign([{ id: 'a', weight: 1 }, { id: 'b', weight: 2 }, { id: 'c', weight: 1 }, { id: 'd', weight: 4 }]));
    expect(Math.abs(c.get('a')! / KEYS - 1 / 8)).toBeLessThan(0.01);
    expect(Math.abs(c.get('b')! / KEYS - 2 / 8)).toBeLessThan(0.01);
    expect(Math.abs(c.get('c')! / KEYS - 1 / 8)).toBeLessThan(0.01);
    expect(Math.abs(c.get('d')! / KEYS - 4 / 8)).toBeLessThan(0.01);
  });

  it('rendezvous - the pick depends on the set, not on candidate order, and skips weight 0', () => {
    const c = nodes(6);
    const reversed = [...c].reverse();
    for (const k of keys.slice(0, 2000)) expect(rendezvousWinner(k, reversed)).toBe(rendezvousWinner(k, c));
    expect(rendezvousWinner('x', [])).toBeUndefined();
    expect(rendezvousWinner('x', [{ id: 'a', weight: 0 }])).toBeUndefined();
    expect(rendezvousWinner('x', [{ id: 'a', weight: 0 }, { id: 'b', weight: 1 }])?.id).toBe('b');
  });

  it('rendezvous - picks at least 200k ids/s over 16 nodes (the HTTP path needs 20k/s)', () => {
    const prepared = prepareCandidates(nodes(16));
    const start = performance.now();
    let n = 0;
    for (const k of keys) if (pickPrepared(k, prepared)) n++;
    const perSec = n / ((performance.now() - start) / 1000);
    expect(perSec).toBeGreaterThan(200_000);
  });

  it('socket table - reads socket servers from members; ignores draining, other roles, incomplete meta', () => {
    expect(socketServerOf(socketMember(1))).toEqual({ id: 'sock-1', host: '127.0.0.1', port: 9001, url: 'ws://127.0.0.1:9001/ws', weight: 1 });
    expect(socketServerOf(socketMember(1, {}, 3))?.weight).toBe(3);
    expect(socketServerOf(socketMember(1, {}, -1))?.weight).toBe(1);
    expect(socketServerOf(socketMember(1, { draining: true }))).toBeUndefined();
    expect(socketServerOf(socketMember(1, { roles: ['gateway'] }))).toBeUndefined();
    expect(socketServerOf(member('x', { socketHost: 'h', socketPort: 1 }))).toBeUndefined();
    expect(socketServerOf(member('x', { socketHost: 'h', socketPort: '1', socketUrl: 'ws://h:1' }))).toBeUndefined();
    expect(socketServerOf(member('x', { socketHost: 'h', socketPort: 1, socketUrl: 'http://h:1' }))).toBeUndefined();
  });

  it('socket table - membership events add, update, drain and remove servers; no-op events keep the table', () => {
    let table = SocketTable.fromMembers([socketMember(1), socketMember(2), member('gw', {}, { roles: ['gateway'] })]);
    expect(table.size).toBe(2);
    const same = table.apply({ type: 'updated', member: socketMember(1) });
    expect(same).toBe(table);
    expect(table.apply({ type: 'up', member: member('gw2', {}, { roles: ['gateway'] }) })).toBe(table);
    table = table.apply({ type: 'up', member: socketMember(3) });
    expect(table.size).toBe(3);
    table = table.apply({ type: 'updated', member: socketMember(3, { draining: true }) });
    expect(table.size).toBe(2);
    expect(table.get('sock-3')).toBeUndefined();
    table = table.apply({ type: 'down', member: socketMember(1), reason: 'timeout' });
    expect(table.servers().map((s) => s.id)).toEqual(['sock-2']);
    for (const k of keys.slice(0, 100)) expect(table.pick(k)?.id).toBe('sock-2');
    table = table.apply({ type: 'down', member: socketMember(2), reason: 'left' });
    expect(table.size).toBe(0);
    expect(table.pick(keys[0]!)).toBeUndefined();
  });

  it('socket table - exclude drops servers from the rendezvous; ids not on them keep theirs; all excluded is ignored', () => {
    const members = Array.from({ length: 4 }, (_, i) => socketMember(i, {}, 1 + (i % 2)));
    const table = SocketTable.fromMembers(members);
    const without1 = SocketTable.fromMembers(members.filter((m) => m.nodeId !== 'sock-1'));
    const without13 = SocketTable.fromMembers(members.filter((m) => m.nodeId !== 'sock-1' && m.nodeId !== 'sock-3'));
    let moved = 0;
    for (const k of keys.slice(0, 5000)) {
      const plain = table.pick(k)!.id;
      const excluded = table.pick(k, ['sock-1'])!.id;
      // Same answer as a table where sock-1 is down: the exclusion is the membership change, early.
      expect(excluded).toBe(without1.pick(k)!.id);
      expect(excluded).not.toBe('sock-1');
      if (plain !== 'sock-1') expect(excluded).toBe(plain);
      else moved++;
      // Order and duplicates in the exclude list do not matter; unknown ids are no-ops.
      expect(table.pick(k, ['sock-3', 'nope', 'sock-1', 'sock-3'])!.id).toBe(without13.pick(k)!.id);
      expect(table.pick(k, ['nope'])!.id).toBe(plain);
      // Excluding every live server leaves nowhere to go: the exclusion is ignored.
      expect(table.pick(k, ['sock-0', 'sock-1', 'sock-2', 'sock-3'])!.id).toBe(plain);
    }
    expect(moved).toBeGreaterThan(0);
    expect(SocketTable.empty.pick(keys[0]!, ['sock-1'])).toBeUndefined();
  });

  it('socket table - two tables built from the same members in any order pick the same server', () => {
    const members = Array.from({ length: 7 }, (_, i) => socketMember(i, {}, 1 + (i % 3)));
    const a = SocketTable.fromMembers(members);
    let b = SocketTable.empty;
    for (const m of [...members].reverse()) b = b.apply({ type: 'up', member: m });
    for (const k of keys.slice(0, 5000)) expect(b.pick(k)?.id).toBe(a.pick(k)?.id);
  });
});

describe('rendezvous - one hash for the project', () => {
  it('rendezvous - the distributor picks the same winner as the runtime placement, weights included', async () => {
    const { pickByRendezvous } = await import('../../runtime/mod.js');
    const cands = [
      { id: 'socket-1', weight: 1 },
      { id: 'socket-2', weight: 2 },
      { id: 'socket-3', weight: 1 },
    ];
    const prepared = prepareCandidates(cands);
    for (let i = 0; i < 2000; i++) expect(pickPrepared(`conn-${i}`, prepared)?.id).toBe(pickByRendezvous(`conn-${i}`, cands));
  });
});
