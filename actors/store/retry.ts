/**
 * Riding out JetStream fail-overs. While a stream has no leader (a server died; nats-server 2.9
 * elects a new one after its 4-9 s raft election timeout) or the connection is re-established,
 * requests fail with "no responders" or time out. The storage retries those within a budget, so a
 * request that arrives during a fail-over is answered late rather than failed.
 *
 * Retrying is safe for every request the storage makes: reads change nothing; an unconditional write
 * that timed out but was applied is written again with the same value (a newer revision, same
 * state); a conditional one then meets its own earlier write and reports it as a conflict holding
 * the value it wrote, which a client resolves to the same state.
 */
import { setTimeout as delay } from 'node:timers/promises';
import { isTransientJsError } from '../../runtime/mod.js';
import { ConnectionLostError } from '../../runtime/mod.js';

const lostConnection = (err: unknown): boolean => err instanceof ConnectionLostError;

/**
 * True for failures that say "JetStream could not be reached now", not "the request is wrong": the
 * runtime's transient JetStream errors, and a storage request failed by a dropped connection.
 */
export function isTransient(err: unknown): boolean {
  return isTransientJsError(err, lostConnection);
}

/**
 * Runs `attempt` until it resolves, throws a non-transient error, or `budgetMs` has passed (then the
 * last error is thrown). Waits 25 ms after the first failure, doubling up to 500 ms.
 */
export async function retryTransient<T>(budgetMs: number, attempt: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + budgetMs;
  for (let wait = 25; ; wait = Math.min(wait * 2, 500)) {
    try {
      return await attempt();
    } catch (err) {
      if (!isTransient(err) || Date.now() + wait >= deadline) throw err;
    }
    await delay(wait);
  }
}
