import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { NATS_GOGC, startNatsServer } from '../../runtime/mod.js';

async function gogcOf(pid: number): Promise<string | undefined> {
  const env = (await readFile(`/proc/${pid}/environ`, 'utf8')).split('\0');
  return env.find((e) => e.startsWith('GOGC='))?.slice(5);
}

describe('runtime - nats-server launcher', () => {
  it.runIf(process.platform === 'linux')('runtime - starts nats-server with GOGC=25 unless GOGC is set (then it is passed as it is)', async () => {
    expect(NATS_GOGC).toBe('25');
    const saved = process.env['GOGC'];
    try {
      delete process.env['GOGC'];
      await using a = await startNatsServer({ jetstream: false });
      expect(await gogcOf(a.pid)).toBe('25');
      process.env['GOGC'] = '75';
      await using b = await startNatsServer({ jetstream: false });
      expect(await gogcOf(b.pid)).toBe('75');
    } finally {
      if (saved === undefined) delete process.env['GOGC'];
      else process.env['GOGC'] = saved;
    }
  });
});
