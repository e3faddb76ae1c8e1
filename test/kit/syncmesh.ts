/**
 * Test kit: the `syncmesh` program (dist/gateway/cli/syncmesh.js, the package's bin) run as a user
 * runs it: a child process, flags and environment, its `ready` line, SIGTERM to stop. Stopped by
 * construction.
 *
 *   await using node = await syncmeshNode(['--roles', 'socket', '--nats', url], { env });
 *   node.info.socket   // ws://127.0.0.1:PORT/ws
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';
import { createInterface } from 'node:readline';
import type { RunningInfo } from '../../gateway/cli/mod.js';

export const SYNCMESH_JS = resolve('dist/gateway/cli/syncmesh.js');

/** What a node prints in its `ready` line (gateway/cli/roles.ts). */
export type ReadyInfo = RunningInfo;

export interface SyncmeshProcess {
  readonly info: ReadyInfo;
  readonly process: ChildProcess;
  /** What it wrote to stderr (the last 16 kB). */
  stderr(): string;
  /** SIGTERM (a socket node drains first); resolves with the exit code. */
  stop(): Promise<number | null>;
  [Symbol.asyncDispose](): Promise<void>;
}

/** Environment of a child: this process's, minus any SYNCMESH_* of the developer's shell, plus `env`. */
export function childEnv(env: Record<string, string> = {}): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('SYNCMESH_')) out[k] = v;
  return { ...out, SYNCMESH_LOG_LEVEL: 'warn', ...env };
}

/**
 * Runs `syncmesh node ARGS` and resolves once it printed `ready`. `command` wraps the invocation
 * (for example `['ip', 'netns', 'exec', 'ns1']`).
 */
export async function syncmeshNode(args: string[], options: { env?: Record<string, string>; command?: string[]; timeoutMs?: number } = {}): Promise<SyncmeshProcess> {
  const argv = [...(options.command ?? []), process.execPath, SYNCMESH_JS, 'node', ...args];
  // stdin is a pipe the node watches: if this test process dies (a timed-out worker), the node leaves too.
  const child = spawn(argv[0]!, argv.slice(1), { stdio: ['pipe', 'pipe', 'pipe'], env: childEnv({ SYNCMESH_EXIT_WITH_PARENT: '1', ...options.env }) });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-16_000);
  });
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  const stop = async (): Promise<number | null> => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    const code = await exited;
    clearTimeout(timer);
    return code;
  };
  let info: ReadyInfo;
  try {
    info = await new Promise<ReadyInfo>((resolveInfo, reject) => {
      const timer = setTimeout(() => reject(new Error(`syncmesh node did not print ready in time; stderr:\n${stderr}`)), options.timeoutMs ?? 30_000);
      createInterface({ input: child.stdout! }).on('line', (line) => {
        if (line.startsWith('ready ')) {
          clearTimeout(timer);
          resolveInfo(JSON.parse(line.slice(6)) as ReadyInfo);
        }
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`syncmesh node exited with code ${code} before ready; stderr:\n${stderr}`));
      });
    });
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    info,
    process: child,
    stderr: () => stderr,
    stop,
    [Symbol.asyncDispose]: async () => void (await stop()),
  };
}

/** Runs the program to completion (for --help and refusals): exit code, stdout, stderr. */
export function runSyncmesh(args: string[], env: Record<string, string> = {}, timeoutMs = 90_000): Promise<{ status: number | null; stdout: string; stderr: string }> {
  // Executed directly, as an installed bin is: through its shebang line and executable bit.
  const child = spawn(SYNCMESH_JS, args, { stdio: ['ignore', 'pipe', 'pipe'], env: childEnv(env) });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolveRun, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`syncmesh ${args.join(' ')} did not finish within ${timeoutMs} ms; stderr: ${stderr}`));
    }, timeoutMs);
    child.once('error', reject);
    child.once('close', (status) => {
      clearTimeout(timer);
      resolveRun({ status, stdout, stderr });
    });
  });
}

/**
 * Prometheus text: the value of the first series of `name` carrying every label of `labels`
 * (`a="x",b="y"`, in any order), or undefined.
 */
export function metricValue(text: string, name: string, labels = ''): number | undefined {
  const wanted = labels === '' ? [] : labels.split(/,(?=[a-z_]+=")/);
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const rest = line.slice(name.length);
    if (rest[0] !== '{' && rest[0] !== ' ') continue;
    if (!wanted.every((l) => rest.includes(l))) continue;
    const value = Number(line.slice(line.lastIndexOf(' ') + 1));
    if (Number.isFinite(value)) return value;
  }
  return undefined;
}

/** The sum over every series of `name` (all label values). */
export function metricSum(text: string, name: string): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const rest = line.slice(name.length);
    if (rest[0] !== '{' && rest[0] !== ' ') continue;
    sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}
