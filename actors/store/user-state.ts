/**
 * What a storage node keeps in memory of each user it serves: the user's indexes as last read or
 * written (index-codec.ts), and a queue that runs the user's writes one at a time.
 *
 * Why a cache is safe: a user's indexes are written only by the user's store, which the runtime keeps
 * on one node at a time (single activation). The store actor drops a user's cache when it activates
 * (`forget`), so a node that served the user before another node did starts from what is stored. If
 * two nodes do overlap (a node stalled past its lease), their index writes are compare-and-set
 * (writes.ts): the one holding an older state fails, its cache is dropped, and nothing of its request
 * becomes visible. The store actor then stops (store-actor.ts), so the stale node never writes from a
 * fresh read. What an overlapping stale node can still do is answer a pull from its older state, until
 * it is stopped or writes once.
 *
 * Reads that miss the cache load the index with one `last_by_subj` read of a literal subject (cheap on
 * nats-server 2.9: it keeps per-subject state) and share the load with concurrent callers.
 *
 * At most `maxUsers` idle users are kept; a user with work in progress is never dropped, so there is
 * never more than one write queue per user on a node.
 */
import { StoreError, StoreErrorCodes } from './errors.js';
import type { StoreLayout } from './layout.js';
import type { StreamReader } from './reader.js';
import {
  decodeCollection,
  decodeDevice,
  decodeUser,
  EMPTY_COLLECTION,
  EMPTY_DEVICE,
  EMPTY_USER,
  type CollectionIndex,
  type DeviceIndex,
  type UserIndex,
} from './index-codec.js';

/** A collection and its highest revision. */
export interface CollectionRev {
  readonly collection: string;
  readonly rev: number;
}

/**
 * A device that just became known, with the revisions of the collections the store had cached then:
 * a commit made between the device's `welcome` and its registration did not list it, so the store
 * actor sends it a `sync` for each (devices.ts).
 */
export interface NewDevice {
  readonly deviceId: string;
  readonly revs: readonly CollectionRev[];
}

const NO_DEVICES: NewDevice[] = [];

/** One user's cached indexes. Getters load on a miss; setters record what was just written. */
export class UserState {
  busy = 0;
  #queue: Promise<unknown> = Promise.resolve();
  #user: Promise<UserIndex> | undefined;
  readonly #collections = new Map<string, Promise<CollectionIndex>>();
  readonly #devices = new Map<string, Promise<DeviceIndex>>();
  #fresh: NewDevice[] = [];

  constructor(
    readonly userId: string,
    private readonly layout: StoreLayout,
    private readonly index: StreamReader,
  ) {}

  /** Runs `task` after every write task queued before it. */
  serial<T>(task: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(task, task);
    this.#queue = run.catch(() => undefined);
    return run;
  }

  #load<T>(map: Map<string, Promise<T>>, key: string, read: () => Promise<T>): Promise<T> {
    let p = map.get(key);
    if (p === undefined) {
      p = read();
      map.set(key, p);
      // A failed load is not cached: the next caller reads again.
      p.catch(() => {
        if (map.get(key) === p) map.delete(key);
      });
    }
    return p;
  }

  user(): Promise<UserIndex> {
    if (this.#user === undefined) {
      const p = this.index.last(this.layout.userIndex(this.userId)).then((m) => (m ? decodeUser(m.seq, m.data) : EMPTY_USER));
      this.#user = p;
      p.catch(() => {
        if (this.#user === p) this.#user = undefined;
      });
    }
    return this.#user;
  }

  setUser(u: UserIndex): void {
    this.#user = Promise.resolve(u);
  }

  collection(name: string): Promise<CollectionIndex> {
    return this.#load(this.#collections, name, async () => {
      const m = await this.index.last(this.layout.collectionIndex(this.userId, name));
      return m ? decodeCollection(m.seq, m.data) : EMPTY_COLLECTION;
    });
  }

  /** The collection's index as stored now, bypassing (and refreshing) the cache. */
  reloadCollection(name: string): Promise<CollectionIndex> {
    this.#collections.delete(name);
    return this.collection(name);
  }

  setCollection(name: string, c: CollectionIndex): void {
    this.#collections.set(name, Promise.resolve(c));
  }

  device(deviceId: string): Promise<DeviceIndex> {
    return this.#load(this.#devices, deviceId, async () => {
      const m = await this.index.last(this.layout.deviceIndex(this.userId, deviceId));
      return m ? decodeDevice(m.seq, m.data) : EMPTY_DEVICE;
    });
  }

  setDevice(deviceId: string, d: DeviceIndex): void {
    this.#devices.set(deviceId, Promise.resolve(d));
  }

  /** The revisions of the collections cached here (loaded or written lately), those above 0. */
  async cachedRevs(): Promise<CollectionRev[]> {
    const out: CollectionRev[] = [];
    for (const [collection, p] of [...this.#collections]) {
      try {
        const c = await p;
        if (c.rev > 0) out.push({ collection, rev: c.rev });
      } catch {
        // A failed load: nothing known of it here.
      }
    }
    return out;
  }

  /** Notes a device that just became known, for the store actor to tell (takeNewDevices). */
  noteNewDevice(d: NewDevice): void {
    this.#fresh.push(d);
  }

  /** The devices noted since the last call. */
  takeNewDevices(): NewDevice[] {
    if (this.#fresh.length === 0) return NO_DEVICES;
    const out = this.#fresh;
    this.#fresh = [];
    return out;
  }

  /** Drops everything cached (after a failed or uncertain write): the next read loads from JetStream. */
  drop(): void {
    this.#user = undefined;
    this.#collections.clear();
    this.#devices.clear();
  }
}

/** The users of one storage node. */
export class UserStates {
  readonly #users = new Map<string, UserState>();

  constructor(
    private readonly layout: StoreLayout,
    private readonly index: StreamReader,
    private readonly maxUsers: number,
  ) {}

  /** Runs `task` with the user's state; the state stays cached at least until it is done. */
  async with<T>(userId: string, task: (s: UserState) => Promise<T>): Promise<T> {
    let s = this.#users.get(userId);
    if (s === undefined) {
      s = new UserState(userId, this.layout, this.index);
    } else {
      this.#users.delete(userId); // re-inserted below: Map order is least recently used first
    }
    this.#users.set(userId, s);
    s.busy++;
    try {
      return await task(s);
    } finally {
      s.busy--;
      this.#trim();
    }
  }

  /** Like `with`, after the user's earlier write tasks: for anything that writes an index. */
  write<T>(userId: string, task: (s: UserState) => Promise<T>): Promise<T> {
    return this.with(userId, (s) =>
      s.serial(async () => {
        try {
          return await task(s);
        } catch (err) {
          // A refused request (bad input, quota) changed nothing; after anything else the cache may
          // no longer match what is stored.
          if (!(err instanceof StoreError) || err.code === StoreErrorCodes.internal) s.drop();
          throw err;
        }
      }),
    );
  }

  /** The devices of `userId` that became known since the last call (UserState.takeNewDevices). */
  takeNewDevices(userId: string): NewDevice[] {
    return this.#users.get(userId)?.takeNewDevices() ?? NO_DEVICES;
  }

  /** Forgets what is cached of `userId` (its store just activated here). */
  forget(userId: string): void {
    this.#users.get(userId)?.drop();
  }

  #trim(): void {
    if (this.#users.size <= this.maxUsers) return;
    for (const [id, s] of this.#users) {
      if (this.#users.size <= this.maxUsers) return;
      if (s.busy === 0) this.#users.delete(id);
    }
  }
}
