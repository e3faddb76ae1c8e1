/**
 * Logging helpers: the default pino logger, and a limiter so a flood of bad input produces a few
 * lines and a count, not a log storm.
 */
import { pino, type Logger } from 'pino';

/** The logger a node uses when none is passed in: pino to stdout, level from LOG_LEVEL (default info). */
export function defaultLogger(): Logger {
  return pino({ name: 'syncmesh', level: process.env['LOG_LEVEL'] ?? 'info' });
}

/** Allows `perWindow` lines per `windowMs`; counts the rest and reports them with the next allowed line. */
export class LogLimiter {
  private windowStart = 0;
  private used = 0;
  private suppressed = 0;

  constructor(
    private readonly perWindow = 10,
    private readonly windowMs = 10_000,
  ) {}

  /** Calls `log(suppressedSinceLastLine)` when allowed. */
  run(now: number, log: (suppressed: number) => void): void {
    if (now - this.windowStart >= this.windowMs) {
      this.windowStart = now;
      this.used = 0;
    }
    if (this.used >= this.perWindow) {
      this.suppressed++;
      return;
    }
    this.used++;
    const s = this.suppressed;
    this.suppressed = 0;
    log(s);
  }
}
