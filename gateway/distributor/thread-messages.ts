/**
 * What the distributor's main thread and its HTTP threads (threads.ts, thread-entry.ts) tell each
 * other over postMessage. Everything here is structured-cloneable.
 */
import type { SocketServer } from '../../actors/distributor/mod.js';
import type { DistributorOptions, DistributorRoute, HealthState } from './app.js';

/** workerData of an HTTP thread. */
export interface ThreadData {
  readonly nodeId: string;
  /** Its number (1..threads-1; the main thread is 0), for its log lines. */
  readonly thread: number;
  /** The options of every thread: the main thread's, without the observer. */
  readonly options: Omit<DistributorOptions, 'observer' | 'threads'>;
  readonly logLevel: string;
  readonly table: readonly SocketServer[] | undefined;
  readonly health: HealthState;
}

/** Main thread to HTTP thread. */
export type ToThread =
  | { readonly t: 'table'; readonly servers: readonly SocketServer[] | undefined }
  | { readonly t: 'health'; readonly state: HealthState }
  | { readonly t: 'close' };

/** HTTP thread to main thread. */
export type FromThread =
  /** Its app is built: the listening thread may hand it connections (child-apps.ts). */
  | { readonly t: 'ready'; readonly descriptor: number }
  | { readonly t: 'failed'; readonly message: string }
  /** Answers since the last report, per `route \0 outcome` (metrics). */
  | { readonly t: 'answered'; readonly counts: readonly (readonly [DistributorRoute, string, number])[] }
  /** One pino line of the thread, logged again by the main thread's logger. */
  | { readonly t: 'log'; readonly line: string }
  | { readonly t: 'closed' };
