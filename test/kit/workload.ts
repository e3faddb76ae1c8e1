/**
 * Test kit: steady write and command traffic from a fleet (fleet.ts), with a ledger of what each
 * device was told, so a fault test can check afterwards that nothing acknowledged was lost.
 *
 * Commits, per device, one after the other, in rounds:
 *   - `counters`: key = deviceId, value = round number n (one key, overwritten each round);
 *   - `shared` (one collection per user, written by all its devices): `<deviceId>-<n>` = {by, n} and
 *     `<deviceId>-last` = n, in one commit of two changes.
 * A commit is `acked` when the client resolved it (the server answered `committed`), `unknown` when it
 * failed (ConnectionLostError and the like: it may or may not have been applied). Nothing is retried:
 * an unknown round is simply followed by the next one.
 *
 * Commands: each device sends `{from, to, seq}` to the next device of its user, round after round.
 */
import type { FleetDevice } from './fleet.js';

export const COUNTERS = 'counters';
export const SHARED = 'shared';

export type Outcome = 'acked' | 'unknown';

export interface CommitEntry {
  readonly userId: string;
  readonly deviceId: string;
  readonly collection: string;
  readonly n: number;
  readonly startedAt: number;
  outcome?: Outcome;
  /** Error name and message when not acked. */
  error?: string;
}

export interface SendEntry {
  readonly userId: string;
  readonly from: string;
  readonly to: string;
  readonly seq: number;
  readonly startedAt: number;
  outcome?: Outcome;
  commandId?: string;
  error?: string;
}

export interface Load {
  readonly commits: readonly CommitEntry[];
  readonly sends: readonly SendEntry[];
  /** Commits of `d` acked that started at or after `since`. */
  ackedSince(d: FleetDevice, since: number): number;
  /** Stops starting rounds and waits for the ones under way to settle. */
  stop(): Promise<void>;
}

export interface LoadOptions {
  /** Pause between a device's rounds (jittered +-50%), so the fleet offers a steady, spread-out load. */
  readonly roundMs: number;
  /** Send commands too (each device to the next device of its user). */
  readonly commands?: boolean;
}

/** A device's body of a command, so a command can be matched to its send even when the `sent` answer was lost. */
export interface CommandBody {
  readonly from: string;
  readonly to: string;
  readonly seq: number;
}

export function startLoad(devices: readonly FleetDevice[], options: LoadOptions): Load {
  const commits: CommitEntry[] = [];
  const sends: SendEntry[] = [];
  let stopped = false;
  const pausing = new Set<() => void>();
  // Pacing between rounds, cut short by stop(); this shapes the offered load, it waits for no condition.
  const pause = (ms: number): Promise<void> =>
    new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(t);
        pausing.delete(done);
        resolve();
      };
      const t = setTimeout(done, ms);
      pausing.add(done);
    });
  const settle = async <E extends { outcome?: Outcome; error?: string }>(entry: E, work: Promise<unknown>): Promise<unknown> => {
    try {
      const v = await work;
      entry.outcome = 'acked';
      return v;
    } catch (err) {
      entry.outcome = 'unknown';
      entry.error = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
      return undefined;
    }
  };

  const commitLoop = async (d: FleetDevice): Promise<void> => {
    for (let n = 1; !stopped; n++) {
      const c: CommitEntry = { userId: d.userId, deviceId: d.deviceId, collection: COUNTERS, n, startedAt: Date.now() };
      commits.push(c);
      await settle(c, d.client.put(COUNTERS, d.deviceId, n));
      const s: CommitEntry = { userId: d.userId, deviceId: d.deviceId, collection: SHARED, n, startedAt: Date.now() };
      commits.push(s);
      await settle(s, d.client.commit(SHARED, [{ key: `${d.deviceId}-${n}`, value: { by: d.deviceId, n } }, { key: `${d.deviceId}-last`, value: n }]));
      if (!stopped) await pause(options.roundMs * (0.5 + Math.random()));
    }
  };

  const sendLoop = async (d: FleetDevice, to: string): Promise<void> => {
    for (let seq = 1; !stopped; seq++) {
      const e: SendEntry = { userId: d.userId, from: d.deviceId, to, seq, startedAt: Date.now() };
      sends.push(e);
      const body: CommandBody = { from: d.deviceId, to, seq };
      const answer = (await settle(e, d.client.send(to, body))) as { commandId: string } | undefined;
      if (answer) e.commandId = answer.commandId;
      if (!stopped) await pause(options.roundMs * (0.5 + Math.random()));
    }
  };

  const loops: Promise<void>[] = [];
  for (const d of devices) {
    loops.push(commitLoop(d));
    if (options.commands) {
      const siblings = devices.filter((o) => o.userId === d.userId);
      const next = siblings[(siblings.indexOf(d) + 1) % siblings.length]!;
      if (next !== d) loops.push(sendLoop(d, next.deviceId));
    }
  }

  return {
    commits,
    sends,
    ackedSince: (d, since) =>
      commits.filter((c) => c.deviceId === d.deviceId && c.userId === d.userId && c.outcome === 'acked' && c.startedAt >= since).length,
    stop: async () => {
      stopped = true;
      for (const wake of [...pausing]) wake();
      await Promise.all(loops);
    },
  };
}
