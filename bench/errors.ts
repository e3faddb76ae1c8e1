/**
 * Errors of the benchmark harness. Each message says what went wrong and what to do about it.
 */

/** A command-line argument the harness cannot use. */
export class BenchUsageError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'BenchUsageError';
  }
}

/** A worker process did not start, or died while a measure ran. */
export class BenchWorkerError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'BenchWorkerError';
  }
}

/** A measure could not complete: a peer answered wrongly, failed, or stopped answering. */
export class BenchMeasureError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'BenchMeasureError';
  }
}

/** The run was interrupted (SIGINT or SIGTERM): measures stop and everything is cleaned up. */
export class BenchAbortedError extends Error {
  constructor(message = 'the benchmark was interrupted', options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'BenchAbortedError';
  }
}

/** `work`, unless `signal` aborts first: then BenchAbortedError at once (the caller's cleanup stops what runs). */
export function unlessAborted<T>(work: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal === undefined) return work;
  if (signal.aborted) return Promise.reject(new BenchAbortedError());
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(new BenchAbortedError());
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}
