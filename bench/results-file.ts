/**
 * The figures of a run as JSON (docs/bench/bench-<mode>.json): every target with its rows and checks,
 * MET or MISSED, and the machine it ran on; the chart (chart.ts) is drawn from the same object.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { checks, targetMet, type InfoResult, type TargetResult } from './report.js';
import { checkMet, scaleMet, type ScaleResult } from './scale-report.js';
import { drawChart } from './chart.js';

export interface ResultsFile {
  readonly date: string;
  readonly mode: 'quick' | 'full' | 'custom';
  readonly machine: { readonly node: string; readonly cpus: number; readonly cpuModel: string; readonly memGb: number };
  /** P1-P3: throughput ratios to peers. */
  readonly ratioTargets: readonly unknown[];
  /** P4-P7 (and any later target in the same form). */
  readonly scaleTargets: readonly (ScaleResult & { readonly met: boolean; readonly checkResults: readonly boolean[] })[];
  readonly informational: readonly InfoResult[];
}

export function resultsFile(mode: ResultsFile['mode'], ratio: readonly TargetResult[], scale: readonly ScaleResult[], infos: readonly InfoResult[]): ResultsFile {
  const cpu = cpus();
  return {
    date: new Date().toISOString(),
    mode,
    machine: { node: process.version, cpus: cpu.length, cpuModel: cpu[0]?.model ?? 'unknown', memGb: Math.round(totalmem() / 2 ** 30) },
    ratioTargets: ratio.map((r) => ({ id: r.spec.id, title: r.spec.title, ours: r.ours, peers: r.peers, checks: checks(r), met: targetMet(r) })),
    scaleTargets: scale.map((r) => ({ ...r, met: scaleMet(r), checkResults: r.checks.map(checkMet) })),
    informational: infos,
  };
}

/** Writes bench-<mode>.json and bench-<mode>.svg under `dir`; returns their paths. */
export async function writeResults(dir: string, file: ResultsFile): Promise<{ json: string; svg: string }> {
  await mkdir(dir, { recursive: true });
  const json = join(dir, `bench-${file.mode}.json`);
  const svg = join(dir, `bench-${file.mode}.svg`);
  await writeFile(json, JSON.stringify(file, null, 2) + '\n');
  await writeFile(svg, drawChart(file));
  return { json, svg };
}
