/**
 * A role process of the local cluster: spawned, watched for its `ready` line, restarted when it dies
 * unexpectedly, stopped with SIGTERM.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, type WriteStream } from 'node:fs';
import { createInterface } from 'node:readline';
import type { Logger } from 'pino';
import { nodeProcessEnv } from './node-flags.js';
import type { RunningInfo } from './roles.js';

export interface ChildSpec {
  name: string;
  script: string;
  args: string[];
  /** Node.js flags before the script (node-flags.ts). */
  nodeFlags?: readonly string[];
  env: Record<string, string>;
  logFile: string;
}

/** What a role process prints in its `ready` line: the node's RunningInfo (roles.ts). */
export type ReadyInfo = RunningInfo;

/** Settings that pass from the launcher to its nodes unchanged; the launcher sets every other SYNCMESH_* itself. */
const PASSED_THROUGH = new Set(['SYNCMESH_LOG_LEVEL']);

/**
 * The launcher's environment minus its SYNCMESH_* settings: those are the cluster's (SYNCMESH_HTTP_PORT
 * means the cluster's port), and a node would read them as its own (`syncmesh node` reads the same names).
 */
function inheritedEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('SYNCMESH_') || PASSED_THROUGH.has(k)) env[k] = v;
  return env;
}

export class RoleProcess {
  readonly spec: ChildSpec;
  #child: ChildProcess | undefined;
  #log: WriteStream;
  #stopping = false;
  #restarts = 0;
  #logger: Logger;
  info: ReadyInfo | undefined;

  constructor(spec: ChildSpec, logger: Logger) {
    this.spec = spec;
    this.#logger = logger;
    this.#log = createWriteStream(spec.logFile, { flags: 'a' });
  }

  get pid(): number | undefined {
    return this.#child?.pid;
  }

  /** Starts the process and resolves with what it printed in its `ready` line. */
  start(timeoutMs = 30_000): Promise<ReadyInfo> {
    const child = spawn(process.execPath, [...(this.spec.nodeFlags ?? []), this.spec.script, ...this.spec.args], {
      // stdin is a pipe the child watches: if this process dies, however, the child leaves too.
      stdio: ['pipe', 'pipe', 'pipe'],
      // Its own process group: a Ctrl-C in the terminal reaches only the launcher, which stops the roles in order.
      detached: true,
      env: { ...nodeProcessEnv(process.env), ...inheritedEnv(), ...this.spec.env, SYNCMESH_EXIT_WITH_PARENT: '1' },
    });
    this.#child = child;
    child.stderr!.pipe(this.#log, { end: false });
    return new Promise<ReadyInfo>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${this.spec.name} did not get ready within ${timeoutMs} ms; see ${this.spec.logFile}`)), timeoutMs);
      const lines = createInterface({ input: child.stdout! });
      lines.on('line', (line) => {
        if (line.startsWith('ready ')) {
          clearTimeout(timer);
          this.info = JSON.parse(line.slice(6)) as ReadyInfo;
          resolve(this.info);
        } else {
          this.#log.write(line + '\n');
        }
      });
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        if (this.#stopping) return;
        const why = `${this.spec.name} exited (code ${code}, signal ${signal})`;
        if (!this.info) {
          reject(new Error(`${why} before it was ready; see ${this.spec.logFile}`));
          return;
        }
        this.#restart(why);
      });
    });
  }

  #restart(why: string): void {
    this.#restarts++;
    const delay = Math.min(10_000, 250 * 2 ** Math.min(this.#restarts, 6));
    this.#logger.warn({ role: this.spec.name, restarts: this.#restarts, delayMs: delay }, `${why}; restarting`);
    this.info = undefined;
    setTimeout(() => {
      if (this.#stopping) return;
      this.start().then(
        () => this.#logger.info({ role: this.spec.name }, 'restarted'),
        (err: unknown) => this.#logger.error({ role: this.spec.name, err }, 'restart failed'),
      );
    }, delay).unref();
  }

  /** From now on an exit is expected: no restart. */
  markStopping(): void {
    this.#stopping = true;
  }

  /** SIGTERM, then SIGKILL after `graceMs`. */
  async stop(graceMs = 15_000): Promise<void> {
    this.#stopping = true;
    const child = this.#child;
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    }
    await new Promise<void>((resolve) => this.#log.end(resolve));
  }
}
