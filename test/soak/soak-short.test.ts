/**
 * The R6 soak program (`npm run soak`, dist/bench/soak/soak.js) at CI size: 100 devices, 45 s of
 * churn (5 reconnects/s) and commits (10/s) against a local cluster. The run must complete, sample
 * every cluster process, lose no acknowledged commit and keep RSS growth after warm-up within 25%.
 *
 * Why 25% and not R6's 5%: in 45 s the run is warm-up dominated: V8 heaps still size themselves,
 * JetStream's caches fill, and 30 s after a 15-s warm-up is a few GC cycles, so one young-generation
 * resize moves a 70 MiB process by several percent either way. The bound still catches a leak that
 * grows with churn (every reconnect leaving a session, a listener or a buffer behind shows up as a
 * steady climb of tens of MiB here). The 5% bound is judged by the 10-minute `npm run soak`.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SoakResult } from '../../bench/soak/mod.js';

const SHORT_RUN_BOUND_PCT = 25;

function runSoak(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['dist/bench/soak/soak.js', ...args], { timeout: 170_000, maxBuffer: 32 * 2 ** 20 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : -1;
      resolve({ code, stdout, stderr });
    });
  });
}

describe('soak - short run', () => {
  let dir: string;
  let run: { code: number; stdout: string; stderr: string };
  let result: SoakResult;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'syncmesh-soak-'));
    const out = join(dir, 'soak.json');
    const args = ['--minutes', '0.5', '--warmup-s', '15', '--sample-s', '2', '--clients', '100', '--churn-per-sec', '5', '--commits-per-sec', '10', '--max-growth-pct', String(SHORT_RUN_BOUND_PCT), '--out', out];
    run = await runSoak(args);
    const written = await readFile(out, 'utf8').catch(() => undefined);
    if (written === undefined) throw new Error(`the soak wrote no result (exit code ${run.code}); its stderr ends:\n${run.stderr.slice(-4000)}`);
    result = JSON.parse(written) as SoakResult;
  }, 180_000);

  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('soak - completes with a verdict line and an exit code that agrees with it', () => {
    const verdict = run.stdout.split('\n').find((l) => l.startsWith('soak: PASS') || l.startsWith('soak: FAIL'));
    expect(verdict, `stdout:\n${run.stdout}\nstderr tail:\n${run.stderr.slice(-3000)}`).toBe('soak: PASS');
    expect(run.code).toBe(0);
    expect(result.pass).toBe(true);
    // Progress lines on stderr name every process's RSS.
    expect(run.stderr).toMatch(/connected=\d+\/100 churned=\d+ commits=\d+\/\d+ .*rss socket-1=\d+M socket-2=\d+M storage-1=\d+M gateway-1=\d+M nats-server=\d+M/);
  });

  it('soak - samples every cluster process after warm-up and keeps its growth within the short-run bound', () => {
    expect(result.growth.map((g) => g.name).sort()).toEqual(['gateway-1', 'nats-server', 'socket-1', 'socket-2', 'storage-1']);
    for (const g of result.growth) {
      expect(g.samples, g.name).toBeGreaterThanOrEqual(2 * g.window);
      expect(g.startBytes, g.name).toBeGreaterThan(1024 * 1024);
      expect(Number.isFinite(g.growthPct), g.name).toBe(true);
      expect(g.growthPct, `${g.name}: ${JSON.stringify(g)}`).toBeLessThanOrEqual(SHORT_RUN_BOUND_PCT);
    }
  });

  it('soak - churns connections, commits, pushes to other devices and loses no acknowledged commit', () => {
    const c = result.counters;
    // 45 s at 5/s: most of the ~225 planned reconnects happened (a loaded machine may finish fewer).
    expect(c.churned).toBeGreaterThan(50);
    expect(c.opened).toBeGreaterThanOrEqual(100 + c.churned);
    expect(c.commitsAcked).toBeGreaterThan(100);
    expect(c.commitsAcked + c.commitsAbandoned).toBeLessThanOrEqual(c.commitsSent);
    expect(c.received).toBeGreaterThan(0);
    expect(typeof c.errors).toBe('object');
    expect(result.verify.checkedKeys).toBeGreaterThan(0);
    expect(result.verify.lost, result.verify.examples.join('\n')).toBe(0);
  });
});
