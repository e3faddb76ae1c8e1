/**
 * Spreading work uniformly over a time window with one timer (not one per connection): used by
 * drain() to tell clients to move at evenly spaced moments, so their reconnects do not arrive at
 * the distributor and the other socket nodes all at once (TARGETS R7, P7).
 */

export interface Spread {
  /** Resolves once every item was handed to `fire` (or at cancel()). */
  readonly done: Promise<void>;
  cancel(): void;
}

/**
 * Calls `fire(item)` for item i at `i * spreadMs / n` ms from now (the first at once). Items fired in
 * the same timer tick are handed over together.
 */
export function spreadOver<T>(items: readonly T[], spreadMs: number, fire: (item: T) => void, now: () => number = Date.now): Spread {
  const n = items.length;
  const start = now();
  const step = n > 0 ? spreadMs / n : 0;
  let next = 0;
  let timer: NodeJS.Timeout | undefined;
  let finish: () => void = () => undefined;
  const done = new Promise<void>((resolve) => {
    finish = resolve;
  });
  const tick = (): void => {
    timer = undefined;
    const elapsed = now() - start;
    while (next < n && next * step <= elapsed) fire(items[next++] as T);
    if (next >= n) {
      finish();
      return;
    }
    timer = setTimeout(tick, Math.max(1, Math.ceil(next * step - elapsed)));
  };
  tick();
  return {
    done,
    cancel: () => {
      if (timer !== undefined) clearTimeout(timer);
      timer = undefined;
      next = n;
      finish();
    },
  };
}
