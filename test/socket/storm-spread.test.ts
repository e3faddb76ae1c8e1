/**
 * The reconnect spread of fallback offers (gateway/socket/storm-spread.ts): its size, its bounds, and when
 * every connection's offer is due again.
 */
import { describe, expect, it } from 'vitest';
import { MAX_STORM_SPREAD_MS, MIN_STORM_SPREAD_MS, StormSpread, stormSpreadMs } from '../../gateway/socket/storm-spread.js';

describe('socket - storm spread', () => {
  it('socket - spread is connections over survivors times rate, 1 s to 120 s, none without survivors or rate', () => {
    // A node of 100k among 10 survivors of 2,000/s: 5 s.
    expect(stormSpreadMs(100_000, 10, 2_000)).toBe(5_000);
    expect(stormSpreadMs(15_000, 2, 2_000)).toBe(3_750);
    expect(stormSpreadMs(10, 2, 2_000)).toBe(MIN_STORM_SPREAD_MS);
    expect(stormSpreadMs(0, 2, 2_000)).toBe(MIN_STORM_SPREAD_MS);
    expect(stormSpreadMs(10_000_000, 1, 2_000)).toBe(MAX_STORM_SPREAD_MS);
    expect(stormSpreadMs(3, 2, 2)).toBe(1_000);
    expect(stormSpreadMs(5, 2, 2)).toBe(1_250);
    expect(stormSpreadMs(100, 0, 2_000)).toBeUndefined();
    expect(stormSpreadMs(100, 3, 0)).toBeUndefined();
    expect(stormSpreadMs(100, Number.NaN, 2_000)).toBeUndefined();
  });

  it('socket - every offer is due again each time the spread doubles or halves since they all last got one', () => {
    let connections = 0;
    const spread = new StormSpread(1, () => connections);
    const offer = (): boolean => spread.due(spread.current(1));
    const dueAt: number[] = [];
    for (connections = 1; connections <= 20; connections++) if (offer()) dueAt.push(connections);
    expect(dueAt).toEqual([2, 4, 8, 16]);
    // The node empties to 3 connections: at most half the 20 s offered, so every offer is due (3 s).
    connections = 3;
    expect(offer()).toBe(true);
    dueAt.length = 0;
    for (connections = 4; connections <= 12; connections++) if (offer()) dueAt.push(connections);
    expect(dueAt).toEqual([6, 12]);
    // Survivors join: the spread halves (12 s to 6 s with two, 3 s with four), every offer is due each
    // time; one leaves (4 s): within the band; another (6 s): doubled since the 3 s.
    connections = 12;
    expect(spread.current(2)).toBe(6_000);
    expect(spread.due(spread.current(2))).toBe(true);
    expect(spread.due(spread.current(4))).toBe(true);
    expect(spread.due(spread.current(3))).toBe(false);
    expect(spread.due(spread.current(2))).toBe(true);
    // No rate: no spread, never due.
    const none = new StormSpread(0, () => 1_000_000);
    expect(none.current(1)).toBeUndefined();
    expect(none.due(none.current(1))).toBe(false);
  });
});
