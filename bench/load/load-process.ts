/**
 * A forked child (load process or peer server) driven over IPC: requests carry an id, answers repeat
 * it; a child that dies fails every request waiting on it.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { BenchWorkerError } from '../errors.js';
import type { FromLoad, ToLoad } from './ipc.js';

type Answer = Exclude<FromLoad, { op: 'ready' } | { op: 'progress' }>;
/** A request without its id (the id is filled in by request()). */
type Request = ToLoad extends infer T ? (T extends { id: number } ? Omit<T, 'id'> : never) : never;

export interface ForkOptions {
  readonly name: string;
  readonly script: string;
  readonly args?: readonly string[];
  readonly execArgv?: readonly string[];
  readonly env?: Readonly<Record<string, string>>;
  readonly startTimeoutMs?: number;
}

export class LoadProcess {
  readonly name: string;
  readonly #child: ChildProcess;
  readonly #waiting = new Map<number, { resolve: (a: Answer) => void; reject: (e: Error) => void }>();
  #nextId = 1;
  #exit: string | undefined;
  ready: { pid: number; url?: string; urls?: readonly string[] } | undefined;
  /** The latest progress the child reported. */
  progress = { opened: 0, failed: 0 };

  private constructor(name: string, child: ChildProcess) {
    this.name = name;
    this.#child = child;
    child.on('message', (msg: FromLoad) => {
      if (msg.op === 'ready') {
        this.ready = msg;
        return;
      }
      if (msg.op === 'progress') {
        this.progress = { opened: msg.opened, failed: msg.failed };
        return;
      }
      const w = this.#waiting.get(msg.id);
      if (!w) return;
      this.#waiting.delete(msg.id);
      if (msg.op === 'failed') w.reject(new BenchWorkerError(`${name}: ${msg.error}`));
      else w.resolve(msg);
    });
    child.once('exit', (code, signal) => {
      this.#exit = `${name} exited (code ${code}, signal ${signal})`;
      for (const w of this.#waiting.values()) w.reject(new BenchWorkerError(`${this.#exit} while a request was waiting; see its output above`));
      this.#waiting.clear();
    });
  }

  static async start(o: ForkOptions): Promise<LoadProcess> {
    const child = fork(o.script, [...(o.args ?? [])], {
      execArgv: [...(o.execArgv ?? [])],
      env: { ...process.env, ...o.env },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const p = new LoadProcess(o.name, child);
    const deadline = Date.now() + (o.startTimeoutMs ?? 30_000);
    while (!p.ready) {
      if (p.#exit) throw new BenchWorkerError(`${p.#exit} before it was ready`);
      if (Date.now() > deadline) {
        child.kill('SIGKILL');
        throw new BenchWorkerError(`${o.name} did not report ready within ${o.startTimeoutMs ?? 30_000} ms`);
      }
      await new Promise((r) => setTimeout(r, 20));
    }
    return p;
  }

  get pid(): number {
    return this.#child.pid ?? -1;
  }

  request<K extends Answer['op']>(msg: Request, expect: K): Promise<Extract<Answer, { op: K }>> {
    if (this.#exit) return Promise.reject(new BenchWorkerError(`${this.#exit}; cannot send ${msg.op}`));
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      this.#waiting.set(id, {
        resolve: (a) => (a.op === expect ? resolve(a as Extract<Answer, { op: K }>) : reject(new BenchWorkerError(`${this.name} answered ${a.op} to ${msg.op}`))),
        reject,
      });
      this.#child.send({ ...msg, id });
    });
  }

  /** SIGTERM, then SIGKILL after 5 s. */
  async stop(): Promise<void> {
    if (this.#exit) return;
    const exited = new Promise<void>((r) => this.#child.once('exit', () => r()));
    this.#child.kill('SIGTERM');
    const timer = setTimeout(() => this.#child.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(timer);
  }
}
