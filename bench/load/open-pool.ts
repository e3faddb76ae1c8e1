/**
 * Opens many connections with a bounded number of handshakes in flight, reporting progress.
 */
import { performance } from 'node:perf_hooks';

export interface PoolOutcome {
  readonly opened: number;
  readonly failed: number;
  readonly firstError?: string;
  readonly elapsedMs: number;
}

/** Calls `open(i)` for i in [0, count), `concurrency` at a time; `progress` about once a second. */
export async function openAll(
  count: number,
  concurrency: number,
  open: (i: number) => Promise<void>,
  progress: (opened: number, failed: number) => void,
): Promise<PoolOutcome> {
  const start = performance.now();
  let nextIndex = 0;
  let opened = 0;
  let failed = 0;
  let firstError: string | undefined;
  const timer = setInterval(() => progress(opened, failed), 1_000);
  const lane = async (): Promise<void> => {
    while (nextIndex < count) {
      const i = nextIndex++;
      try {
        await open(i);
        opened++;
      } catch (err) {
        failed++;
        firstError ??= err instanceof Error ? err.message : String(err);
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(concurrency, count) }, lane));
  } finally {
    clearInterval(timer);
  }
  progress(opened, failed);
  return { opened, failed, ...(firstError !== undefined && { firstError }), elapsedMs: performance.now() - start };
}
