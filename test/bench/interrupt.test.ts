/**
 * Ctrl-C during a load measure: the bench stops the measure under way at once (not at its end, which
 * may be minutes away), stops every process it started, and exits with 130.
 */
import { spawn } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { until } from '../kit/wait.js';

/** Every process below `root` (its children, theirs, ...), read from /proc. */
function descendants(root: number): number[] {
  const parent = new Map<number, number>();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      // Field 4 of /proc/<pid>/stat, after the command in parentheses.
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      parent.set(Number(d), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      // gone meanwhile
    }
  }
  const out: number[] = [];
  const walk = (pid: number): void => {
    for (const [child, ppid] of parent) if (ppid === pid) (out.push(child), walk(child));
  };
  walk(root);
  return out;
}

/** Whether `pid` is a process still running (a zombie, exited but not yet reaped, is not). */
function running(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

describe('bench - interrupt', () => {
  it.runIf(process.platform === 'linux')('bench - SIGINT during P5 stops the measure under way, stops every process it started and exits 130', async () => {
    // A 10-minute load: only the interrupt can end this run in time.
    const bench = spawn(process.execPath, ['dist/bench/run.js', '--only', 'P5', '--clients', '40', '--rate', '20', '--load-ms', '600000'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    bench.stdout.on('data', (b: Buffer) => (output += b.toString()));
    bench.stderr.on('data', (b: Buffer) => (output += b.toString()));
    const exited = new Promise<number | null>((resolve) => bench.once('exit', (code) => resolve(code)));
    try {
      await until(() => output.includes('P5 syncmesh: running'), 'the P5 load to run', 90_000, () => output.slice(-2_000));
      const started = descendants(bench.pid!);
      expect(started.length, 'the bench runs its servers and load processes').toBeGreaterThan(4);
      const t0 = Date.now();
      bench.kill('SIGINT');
      const code = await exited;
      const stopMs = Date.now() - t0;
      expect(code, output.slice(-2_000)).toBe(130);
      expect(stopMs, 'stopped well before the load would have ended').toBeLessThan(40_000);
      expect(output).toMatch(/SIGINT: stopping the measure under way/);
      await until(() => started.every((pid) => !running(pid)), 'every process the bench started to be gone', 15_000, () => started.filter(running).join(', '));
    } finally {
      if (bench.exitCode === null) bench.kill('SIGKILL');
    }
  }, 150_000);
});
