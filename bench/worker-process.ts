/**
 * The parent side of a benchmark worker: spawns `node dist/bench/worker.js <mode> <natsUrl> <nodeId>`,
 * waits for its `ready {...}` line on stdout, forwards its stderr (its logs) and stops it by closing
 * its stdin, then SIGKILL if it lingers.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { BenchWorkerError } from './errors.js';

export const WORKER_MODES = ['rpc-responder', 'moleculer-responder', 'runtime-responder'] as const;
export type WorkerMode = (typeof WORKER_MODES)[number];

export interface WorkerOptions {
  /** Node id for the worker's broker or runtime node; absent: the worker's default (see worker.ts). */
  readonly nodeId?: string | undefined;
  /** Run the worker with `--cpu-prof`, profiles written to this directory. */
  readonly cpuProfDir?: string | undefined;
  readonly readyTimeoutMs?: number;
}

export interface WorkerHandle {
  readonly mode: WorkerMode;
  /** The node id the worker reported in its ready line. */
  readonly nodeId: string;
  readonly pid: number;
  /** True once the process has exited (for any reason). */
  readonly exited: boolean;
  /** Closes its stdin (the worker shuts down cleanly), SIGKILL after 10 s. */
  stop(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

const WORKER_JS = fileURLToPath(new URL('./worker.js', import.meta.url));
const TAIL_BYTES = 4_000;

/** The last error a worker logged (its logs are pino JSON), else the last error line of a crash trace. */
function lastError(tail: string): string {
  const lines = tail.split('\n').filter((l) => l.trim().length > 0).reverse();
  for (const line of lines) {
    if (!line.startsWith('{')) continue;
    try {
      const rec = JSON.parse(line) as { level?: number; msg?: string; err?: { message?: string } };
      if ((rec.level ?? 0) >= 50) return [rec.msg, rec.err?.message].filter(Boolean).join(': ');
    } catch {
      // a partial line at the start of the tail
    }
  }
  return (lines.find((l) => /Error/.test(l)) ?? lines[0] ?? '(no output)').slice(0, 500);
}

/** Starts a worker and resolves once it has printed its ready line. */
export async function startWorker(mode: WorkerMode, natsUrl: string, o: WorkerOptions): Promise<WorkerHandle> {
  const nodeArgs = o.cpuProfDir ? ['--cpu-prof', `--cpu-prof-dir=${o.cpuProfDir}`] : [];
  const child = spawn(process.execPath, [...nodeArgs, WORKER_JS, mode, natsUrl, ...(o.nodeId ? [o.nodeId] : [])], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let tail = '';
  child.stderr.on('data', (chunk: Buffer) => {
    process.stderr.write(chunk);
    tail = (tail + chunk.toString('utf8')).slice(-TAIL_BYTES);
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const isExited = (): boolean => child.exitCode !== null || child.signalCode !== null;

  const stop = async (): Promise<void> => {
    if (isExited()) return;
    child.stdin.end();
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  };

  const timeoutMs = o.readyTimeoutMs ?? 30_000;
  const lines = createInterface({ input: child.stdout });
  let nodeId = '';
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new BenchWorkerError(`worker ${mode} did not report ready within ${timeoutMs} ms: ${lastError(tail)}`)),
        timeoutMs,
      );
      child.once('error', (err) => {
        clearTimeout(timer);
        reject(new BenchWorkerError(`could not start worker ${mode} (${WORKER_JS}): ${err.message}. Build first: npx tsc -p tsconfig.json`, { cause: err }));
      });
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new BenchWorkerError(`worker ${mode} exited before it was ready (code ${code}, signal ${signal}): ${lastError(tail)}`));
      });
      lines.on('line', (line) => {
        if (!line.startsWith('ready ')) return;
        clearTimeout(timer);
        try {
          nodeId = String((JSON.parse(line.slice(6)) as { nodeId?: unknown }).nodeId ?? '');
          resolve();
        } catch (err) {
          reject(new BenchWorkerError(`worker ${mode} printed a malformed ready line: ${line}`, { cause: err }));
        }
      });
    });
  } catch (err) {
    child.kill('SIGKILL');
    if (!isExited()) await once(child, 'exit');
    throw err;
  }
  lines.close();
  child.stdout.resume(); // anything it prints later is not ours to read, but must not block it
  return {
    mode,
    nodeId,
    pid: child.pid ?? -1,
    get exited() {
      return isExited();
    },
    stop,
    [Symbol.asyncDispose]: stop,
  };
}
