/**
 * R4, frame fuzz in the suite: 20k hostile frames over 4 connections to a real socket node process
 * (test/kit/fuzz.ts). The full 100k run is `npm run fuzz` (test/e2e/fuzz-main.ts).
 */
import { describe, expect, it } from 'vitest';
import { describeFuzz, runFuzz } from '../kit/fuzz.js';

describe('hostile input - frame fuzz', () => {
  it('fuzz - 20k hostile frames on 4 connections: each gets its documented error frame, no connection closes, the node never crashes and still serves', async () => {
    const summary = await runFuzz({ frames: 20_000, connections: 4, seed: 0xf022, timeoutMs: 80_000 });
    console.info(`R4 fuzz: ${describeFuzz(summary)}`);
    expect(summary.wrong.slice(0, 20)).toEqual([]);
    expect(summary).toMatchObject({ frames: 20_000, answered: 20_000, closedConnections: 0, crashed: false, stillServes: true });
    expect(Object.keys(summary.kinds).length).toBeGreaterThan(35);
  }, 120_000);
});
