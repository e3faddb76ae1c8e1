/**
 * What the load suites (P4, P5, P7) share in one run: the Syncmesh cluster, the load processes, and
 * the Syncmesh population P4 leaves open for P7 to knock over.
 */
import { setTimeout as delay } from 'node:timers/promises';
import { BenchAbortedError } from '../errors.js';
import type { Logger } from 'pino';
import type { LoadOptions } from '../args.js';
import type { BenchCluster } from '../load/syncmesh-cluster.js';
import type { Fleet } from '../load/fleet.js';
import type { PopulationSpec } from '../load/ipc.js';

export interface LoadContext {
  readonly log: Logger;
  readonly options: LoadOptions;
  readonly cluster: BenchCluster;
  readonly fleet: Fleet;
  readonly signal: AbortSignal;
}

/** Bytes to KB (1024), as TARGETS.md counts them. */
export const KB = 1024;

/** Handshakes in flight per load process while opening. */
export const OPEN_CONCURRENCY = 64;
export const OPEN_TIMEOUT_MS = 60_000;

/**
 * `users` users of `devicesPerUser` devices each, split over the fleet's processes (all devices of a
 * user in one process, so a push between them is timed on one clock), with tokens from the cluster.
 */
export async function syncmeshUsers(ctx: Pick<LoadContext, 'cluster'>, tag: string, devices: number): Promise<(i: number, of: number) => PopulationSpec> {
  const users = Math.ceil(devices / 2);
  const all = await Promise.all(
    Array.from({ length: users }, async (_, u) => {
      const userId = `${tag}-u${u}`;
      return { userId, token: await ctx.cluster.token(userId) };
    }),
  );
  return (i, of) => ({ kind: 'syncmesh', distributorUrl: ctx.cluster.gatewayUrl, users: all.filter((_, u) => u % of === i), devicesPerUser: 2 });
}

/**
 * Waits `ms` (between opening connections and reading memory, so the servers' allocations settle);
 * rejects with BenchAbortedError as soon as `signal` aborts.
 */
export async function settle(ms: number, signal?: AbortSignal): Promise<void> {
  await delay(ms, undefined, signal && { signal }).catch((err: unknown) => {
    throw signal?.aborted ? new BenchAbortedError() : err;
  });
}
