/**
 * Admission control of a socket node: how many sessions it is starting, and whether an upgrade may
 * come in (docs/operations.md, "Admission control").
 *
 * A session is starting from its socket's open until its pending commands are fetched (or that fetch
 * failed once), or until its socket closes, whichever comes first: the connection quota, the session
 * actor, `welcome`, the fence claim and the store's answer all lie in between. At `max` starting
 * sessions the server answers new upgrades 503 (`shed`), so that the work a storm queues on the node
 * cannot grow past the clients' own timeout (congestion collapse, docs/capacity.md section 5).
 */
import type { Logger } from 'pino';
import type { Connection } from './connection.js';

/** Shedding is logged at most this often. */
const LOG_EVERY_MS = 5_000;

export class Admission {
  #starting = 0;
  #shed = 0;
  #loggedAt = 0;

  /** `max`: sessions starting at once (0: no bound). */
  constructor(
    readonly max: number,
    private readonly logger: Logger,
  ) {}

  /** Sessions starting now. */
  get starting(): number {
    return this.#starting;
  }

  /** Upgrades shed since start. */
  get shed(): number {
    return this.#shed;
  }

  /** True when an upgrade must be shed now; counts it (and logs, at most every 5 s). */
  refuses(): boolean {
    if (this.max === 0 || this.#starting < this.max) return false;
    this.#shed++;
    const now = Date.now();
    if (now - this.#loggedAt >= LOG_EVERY_MS) {
      this.#loggedAt = now;
      this.logger.warn(
        { starting: this.#starting, maxStartingSessions: this.max, shed: this.#shed },
        'shedding upgrades: this node is starting its limit of sessions (a reconnect storm, or the storage answering slowly); clients retry elsewhere. If it lasts beyond a storm, add socket nodes or raise --max-starting-sessions (docs/operations.md, Admission control); `shed` counts them since start',
      );
    }
    return true;
  }

  /** `conn`'s socket opened: it is starting. */
  opened(conn: Connection): void {
    conn.markStarting();
    this.#starting++;
  }

  /** `conn` started, or its socket closed: no longer starting (counted once, whichever comes first). */
  ended(conn: Connection): void {
    if (conn.endStart()) this.#starting--;
  }
}
