/**
 * A set of client connections held by one load process.
 */
import type { LoadResult, OpenResult, WatchResult } from './ipc.js';

export interface Population {
  readonly size: number;
  /** Opens every connection, `concurrency` handshakes at a time; a connection not up within `timeoutMs` counts as failed. */
  open(concurrency: number, timeoutMs: number, progress: (opened: number, failed: number) => void): Promise<OpenResult>;
  /** Targeted pushes between devices on different nodes (populations that have pairs). */
  load?(ratePerSec: number, warmupMs: number, durationMs: number): Promise<LoadResult>;
  /** Waits until every connection that was on `node` has dropped after `sinceWallMs` and is live again, and all others are live. */
  watchLive?(sinceWallMs: number, node: string, timeoutMs: number): Promise<WatchResult>;
  close(): Promise<void>;
}
