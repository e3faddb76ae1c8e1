import { describe, expect, it } from 'vitest';
import { cpuMeter, cpuMsOf } from '../../bench/load/proc.js';

/** Burns `ms` of this process's own CPU time (not wall time: the machine may be busy); returns the CPU ms Node counted. */
function burnCpu(ms: number): number {
  const start = process.cpuUsage();
  for (;;) {
    const d = process.cpuUsage(start);
    const used = (d.user + d.system) / 1000;
    if (used >= ms) return used;
  }
}

describe('process CPU readings (P7 per-reconnect CPU)', () => {
  it.runIf(process.platform === 'linux')('reads this process\'s CPU time and meters it in groups', async () => {
    const before = await cpuMsOf(process.pid);
    expect(before).toBeGreaterThan(0);
    const meter = await cpuMeter({ me: [process.pid], nobody: [2 ** 22 + 12345] });
    const burnt = burnCpu(300);
    const used = await meter.stop();
    // /proc counts in 10-ms ticks; the reads themselves cost a little CPU too.
    expect(used['me']).toBeGreaterThanOrEqual(burnt - 30);
    expect(used['me']).toBeLessThan(burnt + 200);
    expect(used['nobody']).toBe(0); // a process that is not there counts nothing
    expect(await cpuMsOf(2 ** 22 + 12345)).toBeUndefined();
  });
});
