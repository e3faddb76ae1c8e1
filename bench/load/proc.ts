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

/**
 * CPU time `pid` has used (user + system, every thread), in ms, from /proc/<pid>/stat; undefined when
 * the process is gone. Clock ticks are taken as 100 a second (USER_HZ on Linux).
 */
export async function cpuMsOf(pid: number): Promise<number | undefined> {
  let stat: string;
  try {
    stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // The command name (field 2) may hold spaces: fields are counted after its closing parenthesis.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]);
  return Number.isFinite(ticks) ? ticks * 10 : undefined;
}

/** CPU time (ms) of named groups of processes, read twice: `stop()` returns each group's CPU between. */
export async function cpuMeter(groups: Readonly<Record<string, readonly number[]>>): Promise<{ stop: () => Promise<Record<string, number>> }> {
  const read = async (): Promise<Record<string, number>> => {
    const out: Record<string, number> = {};
    for (const [name, pids] of Object.entries(groups)) {
      let sum = 0;
      for (const pid of pids) sum += (await cpuMsOf(pid)) ?? 0;
      out[name] = sum;
    }
    return out;
  };
  const before = await read();
  return {
    stop: async () => {
      const after = await read();
      return Object.fromEntries(Object.keys(groups).map((g) => [g, after[g]! - before[g]!]));
    },
  };
}
