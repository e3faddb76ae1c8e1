/**
 * Results of the load targets (P4-P7): a table of figures per contender (ours and each peer, same
 * run), then the checks the target sets, each MET or MISSED. A figure that could not be taken makes
 * its checks MISSED: a miss is never hidden.
 */

export type ScaleTargetId = 'P4' | 'P5' | 'P6' | 'P7';

export interface Column {
  readonly key: string;
  readonly label: string;
  readonly digits: number;
}

export interface ScaleRow {
  readonly name: string;
  /** Figures by column key; absent: not measured for this contender. */
  readonly values: Readonly<Record<string, number>>;
  readonly note?: string;
  /** Why this contender has no figures. */
  readonly error?: string;
}

export interface Check {
  readonly what: string;
  /** Undefined when the figure could not be taken. */
  readonly value: number | undefined;
  readonly op: '<=' | '>=';
  readonly bound: number;
  readonly unit: string;
}

export interface ScaleResult {
  readonly id: ScaleTargetId;
  readonly title: string;
  /** Counts and rates this run used (quick or full). */
  readonly setting: string;
  readonly target: string;
  readonly columns: readonly Column[];
  readonly rows: readonly ScaleRow[];
  readonly checks: readonly Check[];
  /** Extra series for the chart (for example clients live per 100 ms during a reconnect storm). */
  readonly series?: Readonly<Record<string, readonly number[]>>;
  readonly notes?: readonly string[];
}

export function checkMet(c: Check): boolean {
  if (c.value === undefined || !Number.isFinite(c.value)) return false;
  return c.op === '<=' ? c.value <= c.bound : c.value >= c.bound;
}

export function scaleMet(r: ScaleResult): boolean {
  return r.checks.length > 0 && r.checks.every(checkMet);
}

/** A check of `ours / theirs` against a ratio bound; undefined ratio when either is missing. */
export function ratio(ours: number | undefined, theirs: number | undefined): number | undefined {
  return ours !== undefined && theirs !== undefined && theirs > 0 ? ours / theirs : undefined;
}

const fmt = (v: number, digits: number): string => v.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
const oneLine = (text: string): string => {
  const line = text.replace(/\s+/g, ' ').trim();
  return line.length > 300 ? `${line.slice(0, 297)}...` : line;
};

export function formatScale(r: ScaleResult): string {
  const lines = [`${r.id}  ${r.title}`, `    setting: ${r.setting}`, `    target: ${r.target}`];
  const nameWidth = Math.max(30, ...r.rows.map((row) => row.name.length + 2));
  const widths = r.columns.map((c) => Math.max(10, c.label.length + 2));
  lines.push(`    ${'measure'.padEnd(nameWidth)}${r.columns.map((c, i) => c.label.padStart(widths[i]!)).join('')}`);
  for (const row of r.rows) {
    const label = `    ${row.name.padEnd(nameWidth)}`;
    if (row.error !== undefined) {
      lines.push(`${label}${'FAILED'.padStart(widths[0] ?? 10)}${row.note ? `  ${row.note}` : ''}\n        ${oneLine(row.error)}`);
      continue;
    }
    const cells = r.columns.map((c, i) => {
      const v = row.values[c.key];
      return (v === undefined ? '' : fmt(v, c.digits)).padStart(widths[i]!);
    });
    lines.push(`${label}${cells.join('')}${row.note ? `  ${row.note}` : ''}`.trimEnd());
  }
  for (const c of r.checks) {
    const value = c.value === undefined || !Number.isFinite(c.value) ? 'not measured' : `${fmt(c.value, c.value < 10 ? 2 : 0)}${c.unit}`;
    lines.push(`    check: ${c.what} ${value} ${c.op} ${fmt(c.bound, c.bound < 10 ? 2 : 0)}${c.unit}  ${checkMet(c) ? 'MET' : 'MISSED'}`);
  }
  for (const n of r.notes ?? []) lines.push(`    note: ${n}`);
  lines.push(`    => ${r.id} ${scaleMet(r) ? 'MET' : 'MISSED'}`);
  return lines.join('\n');
}
