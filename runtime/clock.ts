/**
 * The clock a node's timers run on. Passed in (as XState takes a `clock`) so a unit test can drive
 * time by hand instead of sleeping; the node uses {@link systemClock}.
 */

/** An opaque timer handle. */
export type TimerHandle = unknown;

export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
  /** A repeating timer that does not keep the process alive. */
  setInterval(fn: () => void, ms: number): TimerHandle;
  clearInterval(handle: TimerHandle): void;
}

/** Node's timers; `now` defaults to Date.now (NodeOptions.now overrides it). */
export function systemClock(now: () => number = Date.now): Clock {
  return {
    now,
    setTimeout: (fn, ms) => setTimeout(fn, ms),
    clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
    setInterval: (fn, ms) => setInterval(fn, ms).unref(),
    clearInterval: (h) => clearInterval(h as NodeJS.Timeout),
  };
}
