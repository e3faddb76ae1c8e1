/**
 * Resident memory of any process, read from /proc (Linux): how the bench weighs nats-server and the
 * nodes it did not fork itself.
 */
import { readFile } from 'node:fs/promises';

/** VmRSS of `pid` in bytes. Throws when the process is gone or /proc is not there. */
export async function rssOf(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
  if (!m) throw new Error(`no VmRSS in /proc/${pid}/status`);
  return Number(m[1]) * 1024;
}

/** Median of `samples` RSS readings taken `everyMs` apart: one reading can catch a GC half done. */
export async function settledRss(pid: number, samples = 5, everyMs = 200): Promise<number> {
  const values: number[] = [];
  for (let i = 0; i < samples; i++) {
    values.push(await rssOf(pid));
    if (i < samples - 1) await new Promise((r) => setTimeout(r, everyMs));
  }
  values.sort((a, b) => a - b);
  return values[values.length >> 1]!;
}
