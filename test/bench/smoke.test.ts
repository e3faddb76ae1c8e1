/**
 * The bench program runs end to end and reports (no timing is asserted: benchmarks belong to `npm run bench`).
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);

describe('bench - smoke', () => {
  it('bench - P3 runs and prints its figure, its peer, the ratio and a summary', async () => {
    const { stdout } = await run(process.execPath, ['dist/bench/run.js', '--only', 'P3', '--rounds', '1', '--duration-ms', '200'], { timeout: 60_000 });
    expect(stdout).toMatch(/P3\s+local tell/);
    expect(stdout).toMatch(/bare XState send\s+[\d,]+\s+ours\/peer [\d.]+x\s+target >= 0\.80x\s+(MET|MISSED)/);
    expect(stdout).toMatch(/^SUMMARY: \d+ of 1 targets MET/m);
  });

  it('bench - a bad flag is refused with exit code 2 and says what is accepted', async () => {
    const err = await run(process.execPath, ['dist/bench/run.js', '--only', 'P9'], { timeout: 30_000 }).then(
      () => undefined,
      (e: { code?: number; stderr?: string }) => e,
    );
    expect(err?.code).toBe(2);
    expect(err?.stderr).toMatch(/P1/);
  });
});
