/**
 * The distributor's HTTP threads (DistributorOptions.threads > 1). One thread answers 12-25k connect
 * requests per second on this project's machines (bench P6); the other cores of a gateway would stay
 * idle. Each HTTP thread is a worker_threads Worker running thread-entry.ts: the distributor's app,
 * not listening, fed the latest socket table and health by the main thread (whose distributor actor
 * owns them). The main thread's app listens and hands each accepted connection to the threads' apps
 * in turn (child-apps.ts); the main thread answers none itself.
 *
 * A thread that exits is taken out of the rotation at once and started again a second later. Its log
 * lines and answer counts come through the main thread's logger and observer.
 */
import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import type { SocketTable } from '../../actors/distributor/mod.js';
import type { DistributorObserver, HealthState } from './app.js';
import { DistributorStartError } from './errors.js';
import type { FromThread, ThreadData, ToThread } from './thread-messages.js';

const ENTRY = new URL('./thread-entry.js', import.meta.url);
const RESTART_MS = 1_000;
const CLOSE_MS = 5_000;

interface Slot {
  worker: Worker;
  closed: Promise<void>;
  descriptor: number | undefined;
}

/** What the listening app does when a thread's app comes and goes. */
export interface ChildRotation {
  add(descriptor: number): void;
  remove(descriptor: number): void;
}

export class HttpThreads {
  readonly #slots: Slot[] = [];
  #table: SocketTable | undefined;
  #health: HealthState = 'starting';
  #closing = false;
  #rotation: ChildRotation | undefined;

  private constructor(
    private readonly base: Omit<ThreadData, 'thread' | 'table' | 'health'>,
    private readonly logger: Logger,
    private readonly observer: DistributorObserver | undefined,
    private readonly entry: URL,
  ) {}

  /**
   * Starts `count` threads building the app of `base.options`; resolves once every app is ready.
   * `entry` is the threads' script (thread-entry.ts; a test gives one that wraps it).
   */
  static async start(count: number, base: Omit<ThreadData, 'thread' | 'table' | 'health'>, logger: Logger, observer: DistributorObserver | undefined, entry: URL = ENTRY): Promise<HttpThreads> {
    const threads = new HttpThreads(base, logger, observer, entry);
    try {
      await Promise.all(Array.from({ length: count }, (_, i) => threads.#spawn(i)));
    } catch (err) {
      await threads.close();
      throw err;
    }
    return threads;
  }

  get size(): number {
    return this.#slots.length;
  }

  /** The threads' apps now, for the listening app to hand connections to. */
  get descriptors(): number[] {
    return this.#slots.flatMap((s) => (s.descriptor === undefined ? [] : [s.descriptor]));
  }

  /** The listening app: told when a thread's app leaves (the thread exited) or comes back. */
  follow(rotation: ChildRotation): void {
    this.#rotation = rotation;
  }

  /** The actor's latest table (undefined: none published yet). */
  setTable(table: SocketTable | undefined): void {
    this.#table = table;
    this.#broadcast({ t: 'table', servers: table?.servers() });
  }

  setHealth(state: HealthState): void {
    this.#health = state;
    this.#broadcast({ t: 'health', state });
  }

  /**
   * Ends every thread's connections; resolves when the threads have exited. Call it after the
   * listening app stopped handing them connections. A thread that has not left after CLOSE_MS is
   * terminated.
   */
  async close(): Promise<void> {
    this.#closing = true;
    this.#broadcast({ t: 'close' });
    const all = Promise.all(this.#slots.map((s) => s.closed));
    let timer: NodeJS.Timeout | undefined;
    const late = await Promise.race([all.then(() => false), new Promise<boolean>((r) => (timer = setTimeout(() => r(true), CLOSE_MS)))]);
    clearTimeout(timer);
    if (!late) return;
    this.logger.warn(`a distributor HTTP thread did not stop within ${CLOSE_MS} ms; terminating it`);
    await Promise.all(this.#slots.map((s) => s.worker.terminate()));
  }

  #broadcast(m: ToThread): void {
    for (const s of this.#slots) s.worker.postMessage(m);
  }

  /** Starts thread `i` (slot i); resolves when its app is ready, rejects when it could not start. */
  #spawn(i: number): Promise<void> {
    const data: ThreadData = { ...this.base, thread: i + 1, table: this.#table?.servers(), health: this.#health };
    const worker = new Worker(this.entry, { workerData: data });
    let exited!: () => void;
    const closed = new Promise<void>((r) => (exited = r));
    const slot: Slot = { worker, closed, descriptor: undefined };
    this.#slots[i] = slot;
    return new Promise<void>((resolve, reject) => {
      let listening = false;
      worker.on('message', (m: FromThread) => {
        switch (m.t) {
          case 'ready':
            listening = true;
            slot.descriptor = m.descriptor;
            this.#rotation?.add(m.descriptor);
            resolve();
            break;
          case 'failed':
            reject(new DistributorStartError(`distributor HTTP thread ${i + 1} could not start: ${m.message}`));
            break;
          case 'answered':
            for (const [route, outcome, n] of m.counts) for (let k = 0; k < n; k++) this.observer?.answered(route, outcome as Parameters<DistributorObserver['answered']>[1]);
            break;
          case 'log':
            this.#relog(m.line);
            break;
          case 'closed':
            break;
        }
      });
      worker.on('error', (err) => {
        if (!listening) reject(new DistributorStartError(`distributor HTTP thread ${i + 1} failed to start: ${err.message}`, { cause: err }));
        else this.logger.error({ err, thread: i + 1 }, 'a distributor HTTP thread failed; starting it again');
      });
      worker.on('exit', (code) => {
        exited();
        if (slot.descriptor !== undefined) this.#rotation?.remove(slot.descriptor);
        slot.descriptor = undefined;
        if (this.#closing || !listening) return;
        this.logger.warn({ thread: i + 1, code }, `distributor HTTP thread exited; starting it again in ${RESTART_MS} ms`);
        setTimeout(() => {
          if (this.#closing) return;
          this.#spawn(i).catch((err: unknown) => this.logger.error({ err, thread: i + 1 }, 'could not start a distributor HTTP thread again; the others keep serving'));
        }, RESTART_MS).unref();
      });
    });
  }

  /** A thread's pino line, logged again by the main logger at its level. */
  #relog(line: string): void {
    let o: Record<string, unknown>;
    try {
      o = JSON.parse(line) as Record<string, unknown>;
    } catch {
      return;
    }
    const { level, msg, time: _time, pid: _pid, hostname: _host, ...fields } = o;
    const text = typeof msg === 'string' ? msg : '';
    const n = typeof level === 'number' ? level : 30;
    if (n >= 50) this.logger.error(fields, text);
    else if (n >= 40) this.logger.warn(fields, text);
    else if (n >= 30) this.logger.info(fields, text);
    else this.logger.debug(fields, text);
  }
}
