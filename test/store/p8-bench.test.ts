/**
 * The P8 measure of `npm run bench` runs end to end on a small fill and reports each read with its
 * ratio and MET or MISSED (no timing is asserted: figures belong to `npm run bench`).
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);

describe('store - P8 bench', () => {
  it('store - P8 stores other users\' data between two measures and prints each read with its ratio', { timeout: 90_000 }, async () => {
    const { stdout } = await run(
      process.execPath,
      ['dist/bench/run.js', '--only', 'P8', '--rounds', '1', '--duration-ms', '200', '--warmup-ms', '0', '--p8-records', '2000'],
      { timeout: 80_000 },
    );
    expect(stdout).toMatch(/P8\s+storage read cost as the service grows/);
    expect(stdout).toMatch(/p50 with 2,000 records of other users stored vs none; target: at most 2x; storing them took [\d.]+ s/);
    for (const read of ['pull since 0, 20-key collection', 'pull since 0, 20-key collection, uncached', 'pending look-up at connect (5 waiting)', 'pending look-up at connect, uncached']) {
      expect(stdout).toMatch(new RegExp(`${read.replace(/[()]/g, '\\$&')}\\s+[\\d.]+\\s+[\\d.]+\\s+[\\d.]+\\s+(MET|MISSED)`));
    }
    expect(stdout).toMatch(/=> P8 (MET|MISSED)/);
    expect(stdout).toMatch(/^SUMMARY: .*P8 (MET|MISSED)/m);
  });
});
