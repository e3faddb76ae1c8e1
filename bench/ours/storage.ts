/**
 * Our storage for S1: a CloudStore (actors/store) on the bench's nats-server, and two runtime nodes in
 * this process, one hosting the store actor (with the push server it tells after each commit), one
 * asking it as a socket node does.
 *
 * Before anything is timed, 200 other users' records (20k) fill the data stream, so pulls scan a
 * shared stream as they would in service (see actors/store/README.md, "pull cost model").
 */
import { performance } from 'node:perf_hooks';
import { connect } from '@nats-io/transport-node';
import type { NatsConnection } from '@nats-io/nats-core';
import { connectionId } from '../../protocol/cluster/mod.js';
import type { CommitRequest, CommitResult, PullRequest, PullResult } from '../../actors/messages.js';
import { pushKind } from '../../actors/push/mod.js';
import { createCloudStore, storeKind, STORE_KIND, type CloudStore } from '../../actors/store/mod.js';
import { startNode, type ActorNode } from '../../runtime/mod.js';
import { Cleanup } from '../cleanup.js';
import { BenchAbortedError, BenchMeasureError } from '../errors.js';
import { benchLogger } from '../log.js';
import type { SuiteContext } from '../suites/context.js';
import type { GrowthSession, StorageOp, StorageSession } from '../suites/storage-latency.js';
import { waitForMember } from './remote-ask.js';

const FILLER_USERS = 200;
const FILLER_KEYS = 100;
const FILLER_VALUE = 'x'.repeat(150);
/** Users whose store actors the asks spread over (one actor per user). */
const ACTOR_USERS = 8;
const ACTOR_KEYS = 10;
const BOOKMARK_KEYS = 20;
const ASK_TIMEOUT_MS = 15_000;

const BOOKMARK = { url: 'https://example.org/some/page', title: 'a bookmark', at: 1_700_000_000_000 };

function expectThat(ok: boolean, what: string): void {
  if (!ok) throw new BenchMeasureError(`S1: ${what}; the storage answered wrongly, fix it before trusting any figure`);
}

async function fill(store: CloudStore, signal: AbortSignal): Promise<void> {
  const changes = Array.from({ length: FILLER_KEYS }, (_, k) => ({ key: `k${k}`, value: FILLER_VALUE }));
  // Five users at a time: enough to fill quickly, few enough not to trip the store's limits.
  for (let u = 0; u < FILLER_USERS; u += 5) {
    if (signal.aborted) throw new BenchAbortedError();
    await Promise.all(Array.from({ length: 5 }, (_, i) => store.commit({ userId: `filler-${u + i}`, collection: 'c', changes })));
  }
}

/** The operations, in the order each round runs them. */
function operations(store: CloudStore, caller: ActorNode): StorageOp[] {
  let n = 0;
  let cursor = 0;
  const bookmarks = { userId: 'measured', collection: 'bookmarks' };
  const catchUp = async (): Promise<void> => {
    for (;;) {
      const r = await store.pull({ ...bookmarks, since: cursor });
      cursor = r.rev;
      if (!r.more) return;
    }
  };
  const actorUser = (i: number): string => `actor-user-${i % ACTOR_USERS}`;
  const commitRequest = (user: number, key: number): CommitRequest => ({
    type: 'commit',
    userId: actorUser(user),
    deviceId: 'd',
    connectionId: connectionId(actorUser(user), 'd'),
    collection: 'c',
    changes: [{ key: `k${key % ACTOR_KEYS}`, value: key }],
  });
  const ask = <T>(request: CommitRequest | PullRequest): Promise<T> =>
    caller.ask<T>({ kind: STORE_KIND, id: request.userId }, request, { timeoutMs: ASK_TIMEOUT_MS });

  return [
    {
      name: 'commit, 1 change (CloudStore)',
      prepare: async () => {
        // Every bookmark key exists, so "pull since 0" below always finds BOOKMARK_KEYS keys.
        const changes = Array.from({ length: BOOKMARK_KEYS }, (_, k) => ({ key: `k${k}`, value: BOOKMARK }));
        await store.commit({ ...bookmarks, changes });
      },
      run: async () => {
        await store.commit({ ...bookmarks, changes: [{ key: `k${n++ % BOOKMARK_KEYS}`, value: BOOKMARK }] });
      },
    },
    {
      name: 'commit, 1 change, base 0',
      run: async () => {
        const r = await store.commit({ userId: 'measured-base', collection: 'c', changes: [{ key: `b${n++}`, value: BOOKMARK, base: 0 }] });
        expectThat(r.conflicts.length === 0, `a commit with base 0 of a new key came back as a conflict`);
      },
    },
    {
      // The pull a device makes after a `sync`: one changed key since its cursor.
      name: 'pull of 1 changed key after a sync',
      note: 'timed: the pull (each follows an untimed commit)',
      prepare: catchUp,
      run: async () => {
        await store.commit({ ...bookmarks, changes: [{ key: `k${n++ % BOOKMARK_KEYS}`, value: BOOKMARK }] });
        const t0 = performance.now();
        const r = await store.pull({ ...bookmarks, since: cursor });
        const spent = performance.now() - t0;
        expectThat(r.changes.length === 1, `a pull after one commit returned ${r.changes.length} changes, not 1`);
        cursor = r.rev;
        return spent;
      },
    },
    {
      name: 'pull, nothing changed',
      prepare: catchUp,
      run: async () => {
        const r = await store.pull({ ...bookmarks, since: cursor });
        expectThat(r.changes.length === 0, `a pull with nothing changed returned ${r.changes.length} changes`);
      },
    },
    {
      name: `pull since 0, ${BOOKMARK_KEYS}-key collection`,
      run: async () => {
        const r = await store.pull({ ...bookmarks, since: 0 });
        expectThat(r.changes.length === BOOKMARK_KEYS, `a pull since 0 returned ${r.changes.length} keys, not ${BOOKMARK_KEYS}`);
      },
    },
    {
      name: 'commit via the store actor (remote ask)',
      prepare: async () => {
        // Every actor user has all its keys, so the pull below always finds ACTOR_KEYS keys.
        for (let u = 0; u < ACTOR_USERS; u++) {
          for (let k = 0; k < ACTOR_KEYS; k++) await ask<CommitResult>(commitRequest(u, k));
        }
      },
      run: async () => {
        const i = n++;
        await ask<CommitResult>(commitRequest(i, i));
      },
    },
    {
      name: `pull since 0 via the store actor, ${ACTOR_KEYS} keys`,
      run: async () => {
        const userId = actorUser(n++);
        const r = await ask<PullResult>({ type: 'pull', userId, collection: 'c', since: 0 });
        expectThat(r.changes.length === ACTOR_KEYS, `a pull through the store actor returned ${r.changes.length} keys, not ${ACTOR_KEYS}`);
      },
    },
  ];
}

export async function oursStorageSession(ctx: SuiteContext): Promise<StorageSession> {
  const { natsUrl, log, signal } = ctx;
  const cleanup = new Cleanup(log);
  try {
    const logger = benchLogger('bench-storage').child({}, { level: 'warn' });
    const nc: NatsConnection = await connect({ servers: natsUrl, name: 'bench-storage' });
    cleanup.add('close the storage connection', () => nc.close());
    const store = await createCloudStore({ nc, logger });
    cleanup.add('close the CloudStore', () => store.close());
    log.info(`S1: filling the data stream with ${FILLER_USERS * FILLER_KEYS} records of ${FILLER_USERS} users`);
    await fill(store, signal);
    const storage = await startNode({ nats: natsUrl, kinds: [storeKind(store), pushKind()], logger });
    cleanup.add('close the storage node', () => storage.close());
    const caller = await startNode({ nats: natsUrl, logger });
    cleanup.add('close the asking node', () => caller.close());
    await waitForMember(caller, storage.id, STORE_KIND);
    return { ops: operations(store, caller), close: () => cleanup.runAll() };
  } catch (err) {
    await cleanup.runAll();
    throw err;
  }
}

/** P8: the measured user and device, and how other users' data is shaped. */
const P8_PREFIX = 'p8';
const P8_USER = 'p8-measured';
const P8_KEYS = 20;
const P8_PENDING = 5;
/** One commit per other user (maxChanges is 500): records pipelined, one index write per 500. */
const P8_KEYS_PER_USER = 500;
const P8_COMMANDS_PER_USER = 2;
/** Lanes storing users at once: 8 x 500 writes in flight is what a loaded 2-core machine answers in time. */
const P8_IN_FLIGHT = 8;
const P8_ATTEMPTS = 5;

/**
 * P8 on its own streams (prefix `p8`), so "none stored" really holds nothing else: a pull since 0 of a
 * 20-key collection and the pending look-up at connect (5 commands waiting), each through a store
 * that keeps the user's indexes cached (as the store actor does) and one that reads them from
 * JetStream every time (`cachedUsers: 0`, a user's first request after activation).
 */
export async function oursStorageGrowth(ctx: SuiteContext): Promise<GrowthSession> {
  const { natsUrl, log, signal } = ctx;
  const cleanup = new Cleanup(log);
  try {
    const logger = benchLogger('bench-p8').child({}, { level: 'warn' });
    const nc: NatsConnection = await connect({ servers: natsUrl, name: 'bench-p8' });
    cleanup.add('close the P8 connection', () => nc.close());
    // Long retry budget: storing 1M records on a loaded machine meets slow JetStream answers.
    const warm = await createCloudStore({ nc, logger, prefix: P8_PREFIX, timeoutMs: 10_000, retryForMs: 15_000 });
    cleanup.add('close the P8 store', () => warm.close());
    const cold = await createCloudStore({ nc, logger, prefix: P8_PREFIX, cachedUsers: 0 });
    cleanup.add('close the uncached P8 store', () => cold.close());

    await warm.pending({ userId: P8_USER, deviceId: 'phone' });
    await warm.commit({ userId: P8_USER, collection: 'bookmarks', deviceId: 'laptop', changes: Array.from({ length: P8_KEYS }, (_, k) => ({ key: `k${k}`, value: BOOKMARK })) });
    for (let i = 0; i < P8_PENDING; i++) {
      await warm.send({ userId: P8_USER, fromDevice: 'laptop', fromConnectionId: connectionId(P8_USER, 'laptop'), toDevice: 'phone', body: { open: `https://example.org/${i}` } });
    }
    const pullAll = (store: CloudStore) => async (): Promise<void> => {
      const r = await store.pull({ userId: P8_USER, collection: 'bookmarks', since: 0 });
      expectThat(r.changes.length === P8_KEYS && !r.more, `P8: a pull since 0 returned ${r.changes.length} keys, not ${P8_KEYS}`);
    };
    const lookUp = (store: CloudStore) => async (): Promise<void> => {
      const r = await store.pending({ userId: P8_USER, deviceId: 'phone' });
      expectThat(r.commands.length === P8_PENDING, `P8: the pending look-up returned ${r.commands.length} commands, not ${P8_PENDING}`);
    };
    const reads = [
      { name: `pull since 0, ${P8_KEYS}-key collection`, run: pullAll(warm) },
      { name: `pull since 0, ${P8_KEYS}-key collection, uncached`, run: pullAll(cold) },
      { name: `pending look-up at connect (${P8_PENDING} waiting)`, run: lookUp(warm) },
      { name: `pending look-up at connect, uncached`, run: lookUp(cold) },
    ];

    const fill = async (records: number): Promise<void> => {
      const users = Math.ceil(records / P8_KEYS_PER_USER);
      const changes = Array.from({ length: P8_KEYS_PER_USER }, (_, k) => ({ key: `k${k}`, value: FILLER_VALUE }));
      let next = 0;
      let done = 0;
      const started = Date.now();
      const progress = setInterval(() => {
        const s = (Date.now() - started) / 1000;
        log.info(`P8: stored ${(done * P8_KEYS_PER_USER).toLocaleString('en-US')} of ${records.toLocaleString('en-US')} records and ${(done * P8_COMMANDS_PER_USER).toLocaleString('en-US')} commands, ${Math.round((done * P8_KEYS_PER_USER) / s)} records/s`);
      }, 2_000);
      // Each lane stores one user at a time: its records in one commit (all written in flight, then the
      // index), its device registered, and commands for it. A commit that times out is sent again with
      // its txid, so it is stored once; a device look-up or command that fails is tried again.
      const lane = async (): Promise<void> => {
        while (next < users) {
          if (signal.aborted) throw new BenchAbortedError();
          const userId = `p8-other-${next++}`;
          const again = async (what: string, step: () => Promise<unknown>): Promise<void> => {
            for (let attempt = 1; ; attempt++) {
              try {
                await step();
                return;
              } catch (err) {
                if (attempt >= P8_ATTEMPTS || signal.aborted) throw err;
                log.warn(`P8: ${what} of ${userId} failed (${(err as Error).message}); again`);
              }
            }
          };
          await again('the records', () => warm.commit({ userId, collection: 'c', changes, txid: 'fill' }));
          await again('the device', () => warm.pending({ userId, deviceId: 'phone' }));
          for (let i = 0; i < P8_COMMANDS_PER_USER; i++) {
            await again('a command', () =>
              warm.send({ userId, fromDevice: 'laptop', fromConnectionId: connectionId(userId, 'laptop'), toDevice: 'phone', body: { open: `https://example.org/${i}` } }),
            );
          }
          done++;
        }
      };
      try {
        await Promise.all(Array.from({ length: P8_IN_FLIGHT }, lane));
      } finally {
        clearInterval(progress);
      }
      log.info(`P8: stored ${(users * P8_KEYS_PER_USER).toLocaleString('en-US')} records of ${users} users in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    };
    return { reads, fill, close: () => cleanup.runAll() };
  } catch (err) {
    await cleanup.runAll();
    throw err;
  }
}
