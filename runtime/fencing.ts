/**
 * Self-fencing: a node that may have been declared down by the others stops its virtual actors at
 * once, without touching KV, so that another node can activate them without two activations
 * working side by side for long. Two ways to get there:
 *
 * - cut off: the NATS connection is down for downAfterMs/2 (status `disconnect` with no
 *   `reconnect`, and no own heartbeat echo within that window), or, with the event loop running,
 *   the node's own heartbeat has not come back through NATS for downAfterMs: a half-open
 *   connection, which nats.js would only notice at its next missed ping, minutes later;
 * - stalled: the event loop did not run for downAfterMs (a long GC pause, a blocked loop,
 *   SIGSTOP). The others may have seen the node silent for downAfterMs and taken its leases.
 *
 * Every virtual actor's `signal` aborts with LeaseLostError (cell-lifecycle.ts). The node takes
 * virtual actors again once its own heartbeat comes back through NATS (`onOwnEcho`).
 */
import type { Logger } from 'pino';
import type { Clock, TimerHandle } from './clock.js';

/** A NATS connection status event (nats.js `status()`); only the type matters here. */
export interface ConnectionStatus {
  readonly type: string;
}

export interface FencingDeps {
  readonly logger: Logger;
  readonly clock: Clock;
  readonly heartbeatMs: number;
  readonly downAfterMs: number;
  /** When this node last received its own heartbeat. */
  lastEcho(): number;
  /** Stops every local virtual actor without KV; returns how many. */
  fenceAll(): number;
  closing(): boolean;
}

export class SelfFencing {
  private isFenced = false;
  private cutOffTimer: TimerHandle | undefined;
  private watchdog: TimerHandle | undefined;
  private lastTick = 0;
  private readonly tickMs: number;
  private readonly cutOffMs: number;
  private readonly echoLimitMs: number;
  private readonly stallMs: number;

  constructor(private readonly d: FencingDeps) {
    this.cutOffMs = Math.floor(d.downAfterMs / 2);
    // At downAfterMs the others may call this node down; sooner would fence on every loaded-machine hiccup.
    this.stallMs = d.downAfterMs;
    this.tickMs = Math.max(10, Math.min(d.heartbeatMs, Math.floor(d.downAfterMs / 4)));
    // When the others (who hear its heartbeats through the same NATS) may call this node down;
    // sooner, a slow server on a loaded machine would fence it for nothing.
    this.echoLimitMs = d.downAfterMs;
  }

  /** Fenced: local virtual actors were stopped; new messages for them go elsewhere or are refused. */
  get fenced(): boolean {
    return this.isFenced;
  }

  /** Starts the stall watchdog and follows the connection's status events until they end. */
  start(status: AsyncIterable<ConnectionStatus>): void {
    this.lastTick = this.d.clock.now();
    this.watchdog = this.d.clock.setInterval(() => this.tick(), this.tickMs);
    this.follow(status).catch((err: unknown) => this.d.logger.error({ err }, 'NATS status monitor stopped; self-fencing on disconnect is off'));
  }

  /** Our own heartbeat came back: NATS carries our messages again. */
  onOwnEcho(): void {
    if (this.isFenced) this.unfence();
  }

  stop(): void {
    if (this.cutOffTimer !== undefined) this.d.clock.clearTimeout(this.cutOffTimer);
    this.cutOffTimer = undefined;
    if (this.watchdog !== undefined) this.d.clock.clearInterval(this.watchdog);
    this.watchdog = undefined;
  }

  /** One status event (exposed for unit tests with a hand-driven clock). */
  onStatus(s: ConnectionStatus): void {
    if (s.type === 'disconnect' && this.cutOffTimer === undefined && !this.d.closing()) {
      this.cutOffTimer = this.d.clock.setTimeout(() => this.onCutOff(), this.cutOffMs);
    } else if (s.type === 'reconnect') {
      this.unfence();
    }
  }

  /** One watchdog tick (exposed for unit tests). */
  tick(): void {
    const now = this.d.clock.now();
    const gap = now - this.lastTick;
    this.lastTick = now;
    if (this.d.closing()) return;
    if (gap >= this.stallMs) {
      this.fence(`the event loop did not run for ${gap} ms (paused or blocked); other nodes may have taken this node's actors`);
      return;
    }
    // Only while the loop runs on time: after a stall, our echo may still wait unread in the socket.
    const echo = this.d.lastEcho();
    if (!this.isFenced && echo !== 0 && gap <= 2 * this.tickMs && now - echo >= this.echoLimitMs) {
      this.fence(`this node's own heartbeat has not come back through NATS for ${now - echo} ms`);
    }
  }

  private async follow(status: AsyncIterable<ConnectionStatus>): Promise<void> {
    for await (const s of status) this.onStatus(s);
  }

  private onCutOff(): void {
    this.cutOffTimer = undefined;
    // Our own heartbeat came back within the window: the connection is back (status events can lag).
    if (this.d.closing() || this.d.clock.now() - this.d.lastEcho() < this.cutOffMs) return;
    this.fence(`no NATS connection for ${this.cutOffMs} ms`);
  }

  private fence(why: string): void {
    if (this.isFenced) return; // its virtual actors are stopped already, and none start while fenced
    this.isFenced = true;
    const n = this.d.fenceAll();
    this.d.logger.warn({ stopped: n }, `${why}: stopped local virtual actors so another node can take them (self-fencing)`);
  }

  private unfence(): void {
    if (this.cutOffTimer !== undefined) this.d.clock.clearTimeout(this.cutOffTimer);
    this.cutOffTimer = undefined;
    if (this.isFenced) this.d.logger.info('reconnected to NATS: taking virtual actors again');
    this.isFenced = false;
  }
}
