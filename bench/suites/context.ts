/**
 * What every suite gets from run.ts.
 */
import type { Logger } from 'pino';
import type { BenchOptions } from '../args.js';

export interface SuiteContext {
  readonly natsUrl: string;
  readonly options: BenchOptions;
  readonly log: Logger;
  /** Aborted on SIGINT / SIGTERM. */
  readonly signal: AbortSignal;
}
