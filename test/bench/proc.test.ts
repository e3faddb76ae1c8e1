import { describe, expect, it } from 'vitest';
import { cpuMeter, cpuMsOf } from '../../bench/load/proc.js';

function spin(ms: number): void {
  const end = Date.now() + ms;
  while (Date.now() < end);
}

describe('process CPU readings (P7 per-reconnect CPU)', () => {
  it.runIf(process.platform === 'linux')('reads this process\'s CPU time and meters it in groups', async () => {
    const before = await cpuMsOf(process.pid);
    expect(before).toBeGreaterThan(0);
    const meter = await cpuMeter({ me: [process.pid], nobody: [2 ** 22 + 12345] });
    spin(300);
    const used = await meter.stop();
    expect(used['me']).toBeGreaterThanOrEqual(200);
    expect(used['me']).toBeLessThan(5_000);
    expect(used['nobody']).toBe(0); // a process that is not there counts nothing
    expect(await cpuMsOf(2 ** 22 + 12345)).toBeUndefined();
  });
});
