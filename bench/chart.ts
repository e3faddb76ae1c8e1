/**
 * A hand-written SVG of a run's figures, so a person sees them at a glance: every check as a bar of
 * "how far from its target" (log scale, the target at the middle line, green MET, red MISSED), then
 * the P4 memory per connection of ours and each peer, the P5 latencies beside Socket.IO's, and the
 * P7 clients live over time after the kill.
 */
import type { ResultsFile } from './results-file.js';
import type { ScaleResult } from './scale-report.js';

const W = 960;
const GREEN = '#2e7d32';
const RED = '#c62828';
const GREY = '#757575';
const BLUE = '#1565c0';
const ORANGE = '#ef6c00';

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const text = (x: number, y: number, s: string, o: { size?: number; anchor?: string; fill?: string; weight?: string } = {}): string =>
  `<text x="${x.toFixed(1)}" y="${y.toFixed(1)}" font-size="${o.size ?? 12}" text-anchor="${o.anchor ?? 'start'}" fill="${o.fill ?? '#212121'}"${o.weight ? ` font-weight="${o.weight}"` : ''}>${esc(s)}</text>`;
const rect = (x: number, y: number, w: number, h: number, fill: string): string =>
  `<rect x="${x.toFixed(1)}" y="${y.toFixed(1)}" width="${Math.max(0, w).toFixed(1)}" height="${h.toFixed(1)}" fill="${fill}"/>`;
const line = (x1: number, y1: number, x2: number, y2: number, stroke: string, dash = ''): string =>
  `<line x1="${x1.toFixed(1)}" y1="${y1.toFixed(1)}" x2="${x2.toFixed(1)}" y2="${y2.toFixed(1)}" stroke="${stroke}"${dash ? ` stroke-dasharray="${dash}"` : ''}/>`;
const num = (v: number): string => (Math.abs(v) >= 100 ? Math.round(v).toLocaleString('en-US') : v.toFixed(2));

interface Bar {
  readonly label: string;
  /** Figure over target, >1 better; undefined: not measured. */
  readonly score: number | undefined;
  readonly met: boolean;
}

function bars(file: ResultsFile): Bar[] {
  const out: Bar[] = [];
  for (const r of file.ratioTargets as { id: string; checks: { peer: string; minRatio: number; ratio?: number; met: boolean }[] }[]) {
    for (const c of r.checks) {
      out.push({ label: `${r.id} vs ${c.peer}: ${c.ratio === undefined ? 'not measured' : `${c.ratio.toFixed(2)}x`} (target >= ${c.minRatio}x)`, score: c.ratio === undefined ? undefined : c.ratio / c.minRatio, met: c.met });
    }
  }
  for (const r of file.scaleTargets) {
    r.checks.forEach((c, i) => {
      const met = r.checkResults[i] ?? false;
      let score: number | undefined;
      if (c.value !== undefined && Number.isFinite(c.value)) {
        if (c.bound === 0) score = met ? 10 : 0.1;
        else score = c.op === '<=' ? c.bound / Math.max(c.value, 1e-9) : c.value / c.bound;
      }
      out.push({ label: `${r.id} ${c.what}: ${c.value === undefined ? 'not measured' : `${num(c.value)}${c.unit}`} (target ${c.op} ${num(c.bound)}${c.unit})`, score, met });
    });
  }
  return out;
}

function glance(file: ResultsFile, y0: number): { svg: string; height: number } {
  const items = bars(file);
  const parts: string[] = [text(20, y0 + 16, 'Every check: figure against its target (log scale; right of the line is better)', { size: 14, weight: 'bold' })];
  const x0 = 520;
  const span = W - x0 - 30;
  const xOf = (score: number): number => x0 + ((Math.log10(Math.min(10, Math.max(0.1, score))) + 1) / 2) * span;
  let y = y0 + 34;
  for (const b of items) {
    parts.push(text(20, y + 12, b.label, { size: 11 }));
    if (b.score === undefined) parts.push(text(x0, y + 12, 'not measured: MISSED', { size: 11, fill: RED }));
    else {
      const mid = xOf(1);
      const x = xOf(b.score);
      parts.push(rect(Math.min(mid, x), y + 2, Math.abs(x - mid), 12, b.met ? GREEN : RED));
    }
    y += 18;
  }
  parts.push(line(xOf(1), y0 + 30, xOf(1), y, GREY));
  parts.push(text(xOf(1), y + 14, 'target', { size: 10, anchor: 'middle', fill: GREY }));
  parts.push(text(xOf(0.1), y + 14, '10x worse', { size: 10, anchor: 'start', fill: GREY }));
  parts.push(text(xOf(10), y + 14, '10x better', { size: 10, anchor: 'end', fill: GREY }));
  return { svg: parts.join('\n'), height: y + 24 - y0 };
}

/** Horizontal bars of one column of a scale target's rows, with an optional target line. */
function rowBars(r: ScaleResult, key: string, title: string, unit: string, y0: number, bound?: number): { svg: string; height: number } {
  const rows = r.rows.filter((row) => row.values[key] !== undefined);
  const parts = [text(20, y0 + 16, title, { size: 14, weight: 'bold' })];
  const max = Math.max(bound ?? 0, ...rows.map((row) => row.values[key]!)) * 1.1 || 1;
  const x0 = 300;
  const span = W - x0 - 120;
  let y = y0 + 30;
  for (const row of rows) {
    const v = row.values[key]!;
    parts.push(text(20, y + 12, row.name, { size: 11 }));
    parts.push(rect(x0, y + 2, (v / max) * span, 12, row.name.startsWith('ours') ? BLUE : ORANGE));
    parts.push(text(x0 + (v / max) * span + 6, y + 12, `${num(v)} ${unit}`, { size: 11 }));
    y += 18;
  }
  if (bound !== undefined) {
    parts.push(line(x0 + (bound / max) * span, y0 + 26, x0 + (bound / max) * span, y, RED, '4 3'));
    parts.push(text(x0 + (bound / max) * span, y + 12, `target ${num(bound)} ${unit}`, { size: 10, anchor: 'middle', fill: RED }));
  }
  return { svg: parts.join('\n'), height: y + 22 - y0 };
}

function liveCurve(r: ScaleResult, y0: number): { svg: string; height: number } {
  const curve = r.series?.['liveEvery100ms'] ?? [];
  const parts = [text(20, y0 + 16, `${r.id}: clients live after the kill (every 100 ms)`, { size: 14, weight: 'bold' })];
  if (curve.length === 0) return { svg: parts.join('\n'), height: 30 };
  const h = 160;
  const x0 = 80;
  const span = W - x0 - 40;
  const seconds = Math.max(12, curve.length / 10);
  const max = Math.max(...curve, 1);
  const xOf = (s: number): number => x0 + (s / seconds) * span;
  const yOf = (v: number): number => y0 + 30 + h - (v / max) * h;
  const pts = curve.map((v, i) => `${xOf(i / 10).toFixed(1)},${yOf(v).toFixed(1)}`).join(' ');
  parts.push(`<polyline fill="none" stroke="${BLUE}" stroke-width="2" points="${pts}"/>`);
  parts.push(line(x0, yOf(0), xOf(seconds), yOf(0), GREY));
  parts.push(line(xOf(10), y0 + 30, xOf(10), yOf(0), RED, '4 3'));
  parts.push(text(xOf(10), y0 + 26, 'target: all back by 10 s', { size: 10, anchor: 'middle', fill: RED }));
  parts.push(text(x0 - 6, yOf(max) + 4, max.toLocaleString('en-US'), { size: 10, anchor: 'end' }));
  parts.push(text(x0 - 6, yOf(0) + 4, '0', { size: 10, anchor: 'end' }));
  const step = [1, 2, 5, 10, 20, 30, 60, 120].find((x) => seconds / x <= 12) ?? 300;
  for (let s = 0; s <= seconds; s += step) parts.push(text(xOf(s), yOf(0) + 14, `${s} s`, { size: 10, anchor: 'middle', fill: GREY }));
  return { svg: parts.join('\n'), height: h + 56 };
}

export function drawChart(file: ResultsFile): string {
  const sections: string[] = [];
  let y = 10;
  sections.push(text(20, y + 18, `Syncmesh bench (${file.mode}), ${file.date}: node ${file.machine.node}, ${file.machine.cpus} cpus`, { size: 16, weight: 'bold' }));
  y += 34;
  const add = (s: { svg: string; height: number }): void => {
    sections.push(s.svg);
    y += s.height + 10;
  };
  add(glance(file, y));
  const byId = new Map(file.scaleTargets.map((r) => [r.id, r]));
  const p4 = byId.get('P4');
  if (p4) add(rowBars(p4, 'kb', 'P4: server RSS per idle connection (KB; lower is better)', 'KB', y, 3));
  const p5 = byId.get('P5');
  if (p5) {
    add(rowBars(p5, 'p50', 'P5: push latency p50 (ms)', 'ms', y, 2));
    add(rowBars(p5, 'p99', 'P5: push latency p99 (ms)', 'ms', y, 10));
  }
  const p7 = byId.get('P7');
  if (p7) add(liveCurve(p7, y));
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${y}" viewBox="0 0 ${W} ${y}" font-family="sans-serif">\n${rect(0, 0, W, y, '#ffffff')}\n${sections.join('\n')}\n</svg>\n`;
}
