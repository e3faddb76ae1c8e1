/**
 * Helpers of the storage tests: a nats-server with a CloudStore on it, cleaned up by construction,
 * and a wait-for-condition with a deadline.
 */
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { createCloudStore, type CloudStore, type CloudStoreOptions } from '../../actors/store/mod.js';
import type { Record_ } from '../../actors/messages.js';
import { natsServer, type NatsServer } from '../kit/nats.js';
import { waitFor } from '../kit/wait.js';

export interface StoreEnv {
  ns: NatsServer;
  nc: NatsConnection;
  store: CloudStore;
  [Symbol.asyncDispose](): Promise<void>;
}

/** A nats-server, a connection and a CloudStore on it. */
export async function storeEnv(options: Omit<CloudStoreOptions, 'nc'> = {}): Promise<StoreEnv> {
  const ns = await natsServer();
  let nc: NatsConnection | undefined;
  try {
    // Reconnect for as long as a restart test needs; the default gives up after ten attempts.
    nc = await connect({ servers: ns.url, maxReconnectAttempts: -1, reconnectTimeWait: 100 });
    const store = await createCloudStore({ nc, ...options });
    const conn = nc;
    return {
      ns,
      nc: conn,
      store,
      [Symbol.asyncDispose]: async () => {
        await store.close();
        await conn.close().catch(() => undefined);
        await ns[Symbol.asyncDispose]();
      },
    };
  } catch (err) {
    await nc?.close().catch(() => undefined);
    await ns[Symbol.asyncDispose]();
    throw err;
  }
}

/** Resolves once `check` returns a value other than undefined (or stops throwing); rejects after `timeoutMs` (test/kit/wait.ts). */
export function eventually<T>(what: string, check: () => Promise<T | undefined> | T | undefined, timeoutMs = 20_000): Promise<T> {
  return waitFor(what, async () => check(), timeoutMs, 25);
}

/** Every change of a collection after `since`, all pages of the pull. */
export async function pullPages(store: CloudStore, userId: string, collection: string, since = 0): Promise<Record_[]> {
  const out: Record_[] = [];
  for (;;) {
    const page = await store.pull({ userId, collection, since });
    out.push(...page.changes);
    if (!page.more) return out;
    since = page.rev;
  }
}
