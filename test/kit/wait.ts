/**
 * Test kit: wait for a condition with a deadline (never a fixed sleep). The condition is checked
 * every few milliseconds; on timeout the error names what was awaited and, when given, what was seen.
 */
export async function until(cond: () => boolean, what: string, timeoutMs = 20_000, seen?: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${seen ? `; seen: ${seen()}` : ''}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/**
 * Polls an async `check` until it returns a value other than undefined (errors count as "not yet"),
 * with a deadline; on timeout the error names what was awaited and the last value or error seen.
 */
export async function waitFor<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 20_000, intervalMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last !== undefined ? `; last error: ${String(last)}` : ''}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
