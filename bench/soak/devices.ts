/**
 * The soak's client population: `users` users with `devicesPerUser` reference clients each (client/,
 * through the distributor, real WebSockets), all in the soak's own process so the cluster processes
 * carry only the server side. Churn closes one device's client and opens a fresh one for the same
 * device id (new connect request, ticket, WebSocket and session); commits go from connected devices
 * and the user's other devices receive `sync` and pull, as real devices do.
 *
 * Each device writes only its own keys (`<device>-k<n>`), one commit at a time (the client sends
 * queued writes in order), so the last acknowledged value of each key is known and can be checked
 * at the end by a fresh device's pull.
 */
import WebSocket from 'ws';
import { createSyncClient, OfflineError, type SyncClient } from '../../client/mod.js';

/** The collection the soak writes to. */
export const SOAK_COLLECTION = 'soak';
/** Keys per device: the data set stays small and bounded, so memory growth is not data growth. */
const KEYS_PER_DEVICE = 8;
/** Filler so a commit has a realistic size. */
const PAD = 'x'.repeat(200);

class PlainWebSocket extends WebSocket {
  constructor(url: string) {
    super(url, { perMessageDeflate: false });
  }
}

interface Slot {
  readonly user: number;
  readonly deviceId: string;
  client: SyncClient | undefined;
  /** Next sequence number of this device's writes (kept across churn, so values only grow). */
  seq: number;
}

export interface SoakCounters {
  /** Clients opened (initial + churn). */
  opened: number;
  /** Clients closed and reopened by churn. */
  churned: number;
  commitsSent: number;
  /** Commits the server acknowledged. */
  commitsAcked: number;
  /** Commits left unanswered because churn closed their client (not errors: the client said OfflineError). */
  commitsAbandoned: number;
  /** Changes other devices received (origin remote) after a `sync` and a pull. */
  received: number;
  /** Errors by kind: failed connects, refused commits, client 'error' events. */
  errors: Record<string, number>;
}

export interface VerifyResult {
  /** Keys with an acknowledged write that were checked. */
  checkedKeys: number;
  /** Keys whose pulled value is older than the last acknowledged write (or missing). */
  lost: number;
  /** Users whose keys could not be read back (the verifying client failed): the soak fails on them too. */
  unverified: number;
  examples: string[];
}

export class SoakDevices {
  readonly counters: SoakCounters = { opened: 0, churned: 0, commitsSent: 0, commitsAcked: 0, commitsAbandoned: 0, received: 0, errors: {} };
  readonly #slots: Slot[] = [];
  readonly #getToken: (userId: string) => Promise<string>;
  readonly #distributorUrl: string;
  /** user -> key -> last acknowledged seq. */
  readonly #acked = new Map<number, Map<string, number>>();
  readonly #inFlight = new Set<Promise<unknown>>();

  /**
   * `getToken` signs a user token, as an application's backend does: clients ask for one at each
   * connect, so a soak longer than a token's lifetime (an hour) keeps connecting.
   */
  constructor(distributorUrl: string, getToken: (userId: string) => Promise<string>, users: number, devicesPerUser: number) {
    this.#distributorUrl = distributorUrl;
    this.#getToken = getToken;
    for (let user = 0; user < users; user++) {
      for (let d = 0; d < devicesPerUser; d++) this.#slots.push({ user, deviceId: `d${d}`, client: undefined, seq: 0 });
    }
  }

  get size(): number {
    return this.#slots.length;
  }

  /** Clients connected now. */
  get connected(): number {
    return this.#slots.filter((s) => s.client?.status === 'connected').length;
  }

  /** Commits sent and not yet settled. */
  get inFlight(): number {
    return this.#inFlight.size;
  }

  #error(kind: string): void {
    this.counters.errors[kind] = (this.counters.errors[kind] ?? 0) + 1;
  }

  #userId(user: number): string {
    return `soak-u${user}`;
  }

  #newClient(user: number, deviceId: string): SyncClient {
    const client = createSyncClient({
      distributorUrl: this.#distributorUrl,
      userId: this.#userId(user),
      deviceId,
      getToken: () => this.#getToken(this.#userId(user)),
      WebSocket: PlainWebSocket,
      collections: [SOAK_COLLECTION],
    });
    client.on('change', (e) => {
      if (e.origin === 'remote' && e.collection === SOAK_COLLECTION) this.counters.received++;
    });
    client.on('error', (e) => this.#error(`client ${e.name}`));
    this.counters.opened++;
    return client;
  }

  async #open(slot: Slot, timeoutMs: number): Promise<void> {
    const client = this.#newClient(slot.user, slot.deviceId);
    slot.client = client;
    try {
      await client.whenConnected(timeoutMs);
    } catch {
      // Left to its own reconnects: a device that cannot connect at once keeps trying, as a real one does.
      if (slot.client === client) this.#error('connect timeout');
    }
  }

  /** Opens every device, `concurrency` at a time. */
  async openAll(concurrency: number, timeoutMs: number): Promise<void> {
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < this.#slots.length) await this.#open(this.#slots[next++]!, timeoutMs);
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, this.#slots.length) }, worker));
  }

  /** Closes one random device's client and opens a fresh one for the same device. */
  async churnOne(timeoutMs: number): Promise<void> {
    const slot = this.#slots[Math.floor(Math.random() * this.#slots.length)]!;
    const old = slot.client;
    slot.client = undefined;
    await old?.close();
    await this.#open(slot, timeoutMs);
    this.counters.churned++;
  }

  /** Commits one write from a random connected device (none connected: nothing happens). */
  commitOne(): void {
    for (let tries = 0; tries < 8; tries++) {
      const slot = this.#slots[Math.floor(Math.random() * this.#slots.length)]!;
      const client = slot.client;
      if (client?.status !== 'connected') continue;
      const seq = ++slot.seq;
      const key = `${slot.deviceId}-k${seq % KEYS_PER_DEVICE}`;
      this.counters.commitsSent++;
      const p = client.put(SOAK_COLLECTION, key, { seq, pad: PAD }).then(
        () => {
          this.counters.commitsAcked++;
          const keys = this.#acked.get(slot.user) ?? new Map<string, number>();
          this.#acked.set(slot.user, keys);
          keys.set(key, Math.max(keys.get(key) ?? 0, seq));
        },
        (err: unknown) => {
          if (err instanceof OfflineError) this.counters.commitsAbandoned++;
          else this.#error(`commit ${err instanceof Error ? err.name : 'failure'}`);
        },
      );
      this.#inFlight.add(p);
      void p.finally(() => this.#inFlight.delete(p));
      return;
    }
  }

  /** Waits (up to `timeoutMs`) for the commits sent so far to be answered. */
  async settle(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.#inFlight.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  }

  /**
   * For every user, a fresh device pulls the collection: each key must show a seq at least the last
   * acknowledged one (a later write may have landed unacknowledged; an older value means a lost commit).
   */
  async verify(concurrency: number, timeoutMs: number): Promise<VerifyResult> {
    const result: VerifyResult = { checkedKeys: 0, lost: 0, unverified: 0, examples: [] };
    const users = [...this.#acked.keys()];
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < users.length) {
        const user = users[next++]!;
        const client = this.#newClient(user, 'verify');
        try {
          await client.whenConnected(timeoutMs);
          await client.sync(SOAK_COLLECTION);
          for (const [key, seq] of this.#acked.get(user)!) {
            result.checkedKeys++;
            const seen = (client.get(SOAK_COLLECTION, key)?.value as { seq?: number } | undefined)?.seq;
            if (seen === undefined || seen < seq) {
              result.lost++;
              if (result.examples.length < 10) result.examples.push(`${this.#userId(user)}/${key}: acknowledged seq ${seq}, pulled ${seen ?? 'nothing'}`);
            }
          }
        } catch (err) {
          // One user's failed read must not throw away the whole run's samples: counted, the soak fails.
          result.unverified++;
          if (result.examples.length < 10) result.examples.push(`${this.#userId(user)}: could not read back (${err instanceof Error ? err.message : String(err)})`);
        } finally {
          await client.close();
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, users.length) }, worker));
    return result;
  }

  async closeAll(): Promise<void> {
    await Promise.all(this.#slots.map((s) => s.client?.close()));
    for (const s of this.#slots) s.client = undefined;
  }
}
