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
