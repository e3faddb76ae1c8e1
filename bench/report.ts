/**
 * Turns measured figures into the printed report: per target every figure, the ratio of ours to
 * each peer, the target and MET or MISSED, then one summary line. A figure that could not be taken
 * is printed with its reason and its check counts as MISSED: a miss is never hidden.
 */
import type { Figure } from './measure.js';
import type { InfoSpec, PeerKey, TargetSpec } from './targets.js';

/** A figure, or why there is none. */
export type Outcome = { readonly figure: Figure } | { readonly error: string };

export interface TargetResult {
  readonly spec: TargetSpec;
  readonly ours: Outcome;
  readonly peers: Readonly<Partial<Record<PeerKey, Outcome>>>;
}

/** One operation of an informational measure. */
export interface InfoRow {
  readonly name: string;
  readonly outcome: Outcome;
  /** Printed after the figures, e.g. what exactly was timed. */
  readonly note?: string;
}

/** An informational measure: figures only, no target. */
export interface InfoResult {
  readonly spec: InfoSpec;
  readonly rows: readonly InfoRow[];
}

export interface CheckResult {
  readonly peer: string;
  readonly minRatio: number;
  /** Undefined when either figure is missing. */
  readonly ratio: number | undefined;
  readonly met: boolean;
}

function rate(o: Outcome | undefined): number | undefined {
  return o && 'figure' in o ? o.figure.opsPerSec : undefined;
}

/** The checks of a target, in the order its spec lists them. */
export function checks(r: TargetResult): CheckResult[] {
  const ours = rate(r.ours);
  return r.spec.peers.flatMap((p) => {
    if (p.minRatio === undefined) return [];
    const theirs = rate(r.peers[p.key]);
    const ratio = ours !== undefined && theirs !== undefined && theirs > 0 ? ours / theirs : undefined;
    return [{ peer: p.name, minRatio: p.minRatio, ratio, met: ratio !== undefined && ratio >= p.minRatio }];
  });
}

export function targetMet(r: TargetResult): boolean {
  return checks(r).every((c) => c.met);
}

const int = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });
const fmtMs = (ms: number | undefined): string => (ms === undefined ? '' : ms.toFixed(3));
/** Errors are printed on one line; the full text is in the logs on stderr. */
const oneLine = (text: string): string => {
  const line = text.replace(/\s+/g, ' ').trim();
  return line.length > 300 ? `${line.slice(0, 297)}...` : line;
};
const x = (ratio: number): string => `${ratio.toFixed(2)}x`;

function row(name: string, o: Outcome | undefined, spec: TargetSpec, note: string): string {
  const label = `    ${name.padEnd(30)}`;
  if (!o) return `${label}${'not measured'.padStart(12)}  ${note}`;
  if ('error' in o) return `${label}${'FAILED'.padStart(12)}  ${note}\n${' '.repeat(8)}${oneLine(o.error)}`;
  const f = o.figure;
  const lat = spec.showLatency ? `${fmtMs(f.p50Ms).padStart(9)}${fmtMs(f.p99Ms).padStart(9)}` : '';
  return `${label}${int.format(f.opsPerSec).padStart(12)}${lat}  ${note}`.trimEnd();
}

/** The report block of one target. */
export function formatTarget(r: TargetResult): string {
  const s = r.spec;
  const ours = rate(r.ours);
  const lines: string[] = [];
  const goal = s.peers
    .filter((p) => p.minRatio !== undefined)
    .map((p) => `>= ${p.minRatio}x ${p.name}`)
    .join(' and ');
  lines.push(`${s.id}  ${s.title}`);
  lines.push(`    target: ${goal}`);
  const head = `    ${'measure'.padEnd(30)}${s.unit.padStart(12)}${s.showLatency ? `${'p50 ms'.padStart(9)}${'p99 ms'.padStart(9)}` : ''}`;
  lines.push(head);
  lines.push(row(s.oursName, r.ours, s, ''));
  for (const p of s.peers) {
    const theirs = rate(r.peers[p.key]);
    const ratio = ours !== undefined && theirs !== undefined && theirs > 0 ? ours / theirs : undefined;
    let note: string;
    if (p.minRatio === undefined) note = ratio === undefined ? '(informational)' : `ours/peer ${x(ratio)} (informational)`;
    else if (ratio === undefined) note = `target >= ${x(p.minRatio)}  MISSED (no figure to compare)`;
    else note = `ours/peer ${x(ratio)}  target >= ${x(p.minRatio)}  ${ratio >= p.minRatio ? 'MET' : 'MISSED'}`;
    lines.push(row(p.name, r.peers[p.key], s, note));
  }
  lines.push(`    => ${s.id} ${targetMet(r) ? 'MET' : 'MISSED'}`);
  return lines.join('\n');
}

const INFO_NAME_WIDTH = 40;

/** The report block of an informational measure: every operation with ops/s, p50 and p99. */
export function formatInfo(r: InfoResult): string {
  const s = r.spec;
  const lines = [`${s.id}  ${s.title}`, `    informational, no target: ${s.setting}`];
  lines.push(`    ${'measure'.padEnd(INFO_NAME_WIDTH)}${'ops/s'.padStart(12)}${'p50 ms'.padStart(9)}${'p99 ms'.padStart(9)}`);
  for (const row of r.rows) {
    const label = `    ${row.name.padEnd(INFO_NAME_WIDTH)}`;
    const note = row.note ? `  ${row.note}` : '';
    const o = row.outcome;
    if ('error' in o) {
      lines.push(`${label}${'FAILED'.padStart(12)}${note}\n${' '.repeat(8)}${oneLine(o.error)}`);
      continue;
    }
    const f = o.figure;
    lines.push(`${label}${int.format(f.opsPerSec).padStart(12)}${fmtMs(f.p50Ms).padStart(9)}${fmtMs(f.p99Ms).padStart(9)}${note}`.trimEnd());
  }
  lines.push(`    => ${s.id} ${infoStatus(r)}`);
  return lines.join('\n');
}

function infoStatus(r: InfoResult): string {
  const failed = r.rows.filter((row) => 'error' in row.outcome).length;
  if (r.rows.length === 0) return 'FAILED (nothing measured)';
  return failed === 0 ? 'measured' : `FAILED (${failed} of ${r.rows.length} measures)`;
}

/**
 * One line: how many targets were met, and which checks missed by how much; then how the
 * informational measures went (they never count as targets).
 */
export function formatSummary(results: readonly TargetResult[], infos: readonly InfoResult[] = []): string {
  const info = infos.length ? `; informational: ${infos.map((r) => `${r.spec.id} ${infoStatus(r)}`).join(', ')}` : '';
  if (results.length === 0) return `SUMMARY: no targets run${info}`;
  return formatTargets(results) + info;
}

function formatTargets(results: readonly TargetResult[]): string {
  const met = results.filter(targetMet).length;
  const misses = results.flatMap((r) =>
    checks(r)
      .filter((c) => !c.met)
      .map((c) => `${r.spec.id} vs ${c.peer} ${c.ratio === undefined ? 'not measured' : x(c.ratio)} < ${x(c.minRatio)}`),
  );
  const status = results.map((r) => `${r.spec.id} ${targetMet(r) ? 'MET' : 'MISSED'}`).join(', ');
  return `SUMMARY: ${met} of ${results.length} targets MET (${status})${misses.length ? `; MISSED: ${misses.join('; ')}` : ''}`;
}
