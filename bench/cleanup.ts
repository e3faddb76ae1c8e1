/**
 * Cleanup actions run in reverse order of registration, each even when an earlier one fails, so a
 * failed measure still stops every worker process and connection it started.
 */
import type { Logger } from 'pino';

export class Cleanup {
  readonly #actions: { what: string; run: () => Promise<void> }[] = [];

  constructor(private readonly log: Logger) {}

  /** Registers `run`, to be called by `runAll` (the last registered first). */
  add(what: string, run: () => Promise<void>): void {
    this.#actions.push({ what, run });
  }

  /** Runs every action; failures are logged, not thrown: cleanup must reach the end. */
  async runAll(): Promise<void> {
    for (const a of this.#actions.splice(0).reverse()) {
      try {
        await a.run();
      } catch (err) {
        this.log.warn({ err }, `cleanup failed: ${a.what}`);
      }
    }
  }
}
