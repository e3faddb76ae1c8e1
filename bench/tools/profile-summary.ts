/**
 * Summaries of the profiles `npm run bench -- --profile-dir DIR` leaves, by hand:
 *
 *   node dist/bench/tools/profile-summary.js DIR/CPU.*.cpuprofile     self time by function and by file
 *       [--from MS --to MS]: only the samples taken between two wall-clock times (ms since the epoch,
 *       as the bench log's "time" fields: the P7 kill, say). The profile is written when its process
 *       exits, so its end is anchored at the file's modification time.
 *   node dist/bench/tools/profile-summary.js DIR/Heap.*.heapsnapshot  retained-by-type: self size by constructor
 *   node dist/bench/tools/profile-summary.js A.heapsnapshot B.heapsnapshot
 *       what grew from A to B: count and self size by constructor, strings by shape (digits and hex as #)
 */
import { readFile, stat } from 'node:fs/promises';
import { parseArgs } from 'node:util';

interface CpuNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}

function top(map: Map<string, number>, total: number, n: number, unit: (v: number) => string): string {
  return [...map]
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)
    .map(([k, v]) => `${((100 * v) / total).toFixed(1).padStart(5)}%  ${unit(v).padStart(10)}  ${k}`)
    .join('\n');
}

async function cpu(file: string, fromMs = -Infinity, toMs = Infinity): Promise<void> {
  const p = JSON.parse(await readFile(file, 'utf8')) as { nodes: CpuNode[]; samples: number[]; timeDeltas: number[]; startTime: number; endTime: number };
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<number, number>();
  // Sample times are microseconds of a monotonic clock; the profile ends when the file was written.
  const endWallMs = (await stat(file)).mtimeMs;
  let at = p.startTime;
  p.samples.forEach((id, i) => {
    const d = p.timeDeltas[i] ?? 0;
    at += d;
    const wall = endWallMs - (p.endTime - at) / 1000;
    if (wall >= fromMs && wall <= toMs) selfUs.set(id, (selfUs.get(id) ?? 0) + d);
  });
  const byFn = new Map<string, number>();
  const byFile = new Map<string, number>();
  let total = 0;
  for (const [id, us] of selfUs) {
    const n = byId.get(id)!;
    const url = n.callFrame.url.replace(/^.*\/(node_modules|dist)\//, '$1/').replace(/^file:\/\//, '');
    const fn = `${n.callFrame.functionName || '(anonymous)'} ${url}:${n.callFrame.lineNumber + 1}`;
    byFn.set(fn, (byFn.get(fn) ?? 0) + us);
    const pkg = url.startsWith('node_modules/') ? url.split('/').slice(0, url.split('/')[1]?.startsWith('@') ? 3 : 2).join('/') : url || n.callFrame.functionName;
    byFile.set(pkg, (byFile.get(pkg) ?? 0) + us);
    total += us;
  }
  const ms = (us: number): string => `${(us / 1000).toFixed(0)} ms`;
  process.stdout.write(`${file}: ${ms(total)} sampled\n\nself time by function:\n${top(byFn, total, 30, ms)}\n\nself time by file or package:\n${top(byFile, total, 25, ms)}\n`);
}

interface HeapTally {
  total: number;
  size: Map<string, number>;
  count: Map<string, number>;
}

/** Self size and count of a snapshot's nodes by constructor; with `shapes`, strings by shape too. */
async function tally(file: string, shapes: boolean): Promise<HeapTally> {
  const s = JSON.parse(await readFile(file, 'utf8')) as { snapshot: { meta: { node_fields: string[]; node_types: [string[]] } }; nodes: number[]; strings: string[] };
  const f = s.snapshot.meta.node_fields;
  const width = f.length;
  const iType = f.indexOf('type');
  const iName = f.indexOf('name');
  const iSize = f.indexOf('self_size');
  const types = s.snapshot.meta.node_types[0];
  const t: HeapTally = { total: 0, size: new Map(), count: new Map() };
  for (let i = 0; i < s.nodes.length; i += width) {
    const type = types[s.nodes[i + iType]!] ?? '?';
    const text = s.strings[s.nodes[i + iName]!] ?? '';
    const name =
      type === 'object' || type === 'closure'
        ? `${type} ${text}`
        : shapes && (type === 'string' || type === 'concatenated string' || type === 'sliced string')
          ? `(string) ${text.slice(0, 48).replace(/[0-9a-f]{6,}/g, '#').replace(/[0-9]+/g, '#')}`
          : `(${type})`;
    const size = s.nodes[i + iSize]!;
    t.size.set(name, (t.size.get(name) ?? 0) + size);
    t.count.set(name, (t.count.get(name) ?? 0) + 1);
    t.total += size;
  }
  return t;
}

const kb = (b: number): string => `${(b / 1024).toFixed(0)} KB`;

async function heap(file: string): Promise<void> {
  const t = await tally(file, false);
  const lines = [...t.size].sort((a, b) => b[1] - a[1]).slice(0, 40).map(([k, v]) => `${((100 * v) / t.total).toFixed(1).padStart(5)}%  ${kb(v).padStart(10)}  ${String(t.count.get(k)).padStart(8)}x  ${k}`);
  process.stdout.write(`${file}: ${kb(t.total)} of heap objects\n\nself size by constructor (share, size, count):\n${lines.join('\n')}\n`);
}

async function heapDiff(a: string, b: string): Promise<void> {
  const [ta, tb] = [await tally(a, true), await tally(b, true)];
  const names = new Set([...ta.count.keys(), ...tb.count.keys()]);
  const rows = [...names].map((k) => ({ k, dc: (tb.count.get(k) ?? 0) - (ta.count.get(k) ?? 0), ds: (tb.size.get(k) ?? 0) - (ta.size.get(k) ?? 0) }));
  const fmt = (r: { k: string; dc: number; ds: number }): string => `${`${r.ds >= 0 ? '+' : ''}${kb(r.ds)}`.padStart(10)}  ${`${r.dc >= 0 ? '+' : ''}${r.dc}`.padStart(8)}x  ${String(tb.count.get(r.k) ?? 0).padStart(8)} now  ${r.k}`;
  process.stdout.write(
    `${a} -> ${b}: ${kb(ta.total)} -> ${kb(tb.total)} of heap objects\n\n` +
      `grew most by count:\n${[...rows].sort((x, y) => y.dc - x.dc).slice(0, 40).map(fmt).join('\n')}\n\n` +
      `grew most by size:\n${[...rows].sort((x, y) => y.ds - x.ds).slice(0, 25).map(fmt).join('\n')}\n`,
  );
}

const USAGE = 'usage: node dist/bench/tools/profile-summary.js FILE.cpuprofile [--from MS --to MS] | FILE.heapsnapshot [LATER.heapsnapshot]\n';
let parsed: ReturnType<typeof parseArgs<{ options: { from: { type: 'string' }; to: { type: 'string' } }; allowPositionals: true }>>;
try {
  parsed = parseArgs({ options: { from: { type: 'string' }, to: { type: 'string' } }, allowPositionals: true });
} catch (err) {
  process.stderr.write(`profile-summary: ${err instanceof Error ? err.message : String(err)}\n${USAGE}`);
  process.exit(2);
}
const [file, second] = parsed.positionals;
const fromMs = parsed.values.from === undefined ? -Infinity : Number(parsed.values.from);
const toMs = parsed.values.to === undefined ? Infinity : Number(parsed.values.to);
if (!file || Number.isNaN(fromMs) || Number.isNaN(toMs)) {
  process.stderr.write(USAGE);
  process.exit(2);
}
(second ? heapDiff(file, second) : file.endsWith('.heapsnapshot') ? heap(file) : cpu(file, fromMs, toMs)).catch((err: unknown) => {
  process.stderr.write(`profile-summary: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
