/**
 * `npm run fuzz [-- FRAMES [CONNECTIONS [SEED]]]`: the R4 frame fuzz at full size (default 100k frames
 * over 8 connections) against a real socket node process; prints a PASS/FAIL summary and exits 1 on FAIL.
 * The suite runs 20k of the same (test/e2e/fuzz.test.ts).
 */
import { describeFuzz, runFuzz } from '../kit/fuzz.js';

async function main(): Promise<void> {
  const [frames = 100_000, connections = 8, seed = 0xf022] = process.argv.slice(2).map(Number);
  console.log(`fuzz: ${frames} frames over ${connections} connections, seed ${seed}`);
  const summary = await runFuzz({ frames, connections, seed });
  for (const w of summary.wrong.slice(0, 30)) console.log(`  ${w}`);
  console.log(`  kinds: ${Object.entries(summary.kinds).sort((a, b) => b[1] - a[1]).map(([k, n]) => `${k} ${n}`).join(', ')}`);
  console.log(describeFuzz(summary));
  process.exitCode = describeFuzz(summary).startsWith('PASS') ? 0 : 1;
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
