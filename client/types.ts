/**
 * Public types of the Syncmesh client: its options, its events and the SyncClient interface.
 * The implementation (client.ts) stays internal; createSyncClient() is the way in.
 */
import type { BackoffOptions } from './backoff.js';
import type { Cache, CachedRecord } from './cache.js';
import type { SyncError } from './errors.js';
import type { RateLimit } from './requests.js';
import type { FetchLike, WebSocketConstructor } from './transport.js';

/** Where the client stands. `offline` means stopped: closed, replaced, or refused; reconnect() restarts it. */
export type ConnectionStatus = 'connecting' | 'connected' | 'reconnecting' | 'offline';

export interface StatusEvent {
  readonly status: ConnectionStatus;
  /** Set while connected (from the server's welcome). */
  readonly connectionId?: string;
  /** Socket server node, set while connected. */
  readonly node?: string;
  /** Failed attempts since the last stable connection. */
  readonly attempt: number;
  /** While waiting to reconnect: how long until the next attempt. */
  readonly retryInMs?: number;
  /** Why the last connection or attempt ended, for people reading logs or a status line. */
  readonly reason?: string;
}

/**
 * A key changed in the cache. `origin` says whether this client's commit or another device caused it.
 * When the server's data store turns out to be another one than the cache came from (its storage
 * epoch changed: data wiped, stream recreated), every cached key is reported deleted with rev 0 and the
 * store's current records follow as the pulls bring them.
 */
export interface ChangeEvent {
  readonly collection: string;
  readonly key: string;
  /** Absent when deleted. */
  readonly value?: unknown;
  readonly deleted: boolean;
  /** The key's revision; 0 when the cache dropped the key because the server's store changed. */
  readonly rev: number;
  readonly origin: 'local' | 'remote';
  /**
   * True when the new state is a local write the server has not acknowledged yet (`rev` is then the
   * server's rev it started from). When the server answers, another event reports the settled state.
   */
  readonly pending?: boolean;
}

/** The number of local writes waiting for the server changed. */
export interface PendingEvent {
  readonly count: number;
}

/** A change this client committed was refused because its `base` was stale; the cache now holds the server's state. */
export interface ConflictEvent {
  readonly collection: string;
  readonly key: string;
  /** The server's current state of the key. */
  readonly rev: number;
  readonly value?: unknown;
  readonly deleted: boolean;
  /** What this client tried to write. */
  readonly attempted: ChangeInput;
}

/** A command another device of the same user sent to this one. Call ack() once it is handled. */
export interface CommandEvent {
  readonly commandId: string;
  readonly fromDevice: string;
  readonly body: unknown;
  /** Tells the server the command was handled: it stops redelivering it and tells the sender. Idempotent. */
  ack(): void;
}

export interface DeliveredEvent {
  readonly commandId: string;
}

export interface SyncClientEvents {
  status: StatusEvent;
  change: ChangeEvent;
  conflict: ConflictEvent;
  command: CommandEvent;
  delivered: DeliveredEvent;
  pending: PendingEvent;
  error: SyncError;
}

/** One change of a commit. `base` is the rev this client last saw for the key (0: the key must not exist). */
export type ChangeInput =
  | { readonly key: string; readonly value: unknown; readonly deleted?: false; readonly base?: number }
  | { readonly key: string; readonly deleted: true; readonly base?: number };

export interface ConflictRecord {
  readonly key: string;
  readonly rev: number;
  readonly value?: unknown;
  readonly deleted: boolean;
}

export interface CommitResult {
  /** The revision of this commit. */
  readonly rev: number;
  /** Changes not applied because their base was stale, with the server's state of each key. */
  readonly conflicts: readonly ConflictRecord[];
}

export interface WriteOptions {
  /**
   * Write only if the key is still at this rev (0: only if it does not exist). `true` takes the rev
   * from the cache. Without it the write is unconditional (last writer wins).
   */
  readonly ifRev?: number | true;
}

/** What the client logs. pino's Logger fits; the default logs nothing. */
export interface ClientLogger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export interface SyncClientOptions {
  /** Base URL of a distributor, e.g. `http://127.0.0.1:8080`. */
  readonly distributorUrl: string;
  readonly userId: string;
  readonly deviceId: string;
  /** Returns a user token; called at start and once more when the distributor refuses the token. */
  readonly getToken?: () => Promise<string>;
  /** A fixed token, instead of getToken (cannot be refreshed). */
  readonly token?: string;
  /** WebSocket constructor; default globalThis.WebSocket. In Node 20 pass the `ws` package's default export. */
  readonly WebSocket?: WebSocketConstructor;
  /** Default globalThis.fetch. Another may answer with less than a Response: `ok`, `status`, `headers.get`, `json()` (ResponseLike). */
  readonly fetch?: FetchLike;
  /** Default memoryCache(); in browsers indexedDbCache(name) keeps data across reloads. */
  readonly cache?: Cache;
  /** Collections to pull on every (re)connect, besides those already in the cache. */
  readonly collections?: readonly string[];
  /** Reconnect delays (defaults: minMs 250, maxMs 30 000, full jitter). */
  readonly backoff?: BackoffOptions;
  /** Ack every command as soon as the 'command' listeners have run (default false: call ack()). */
  readonly autoAck?: boolean;
  /** Start connecting at once (default true); otherwise call reconnect(). */
  readonly autoConnect?: boolean;
  /** Deadline for an answer once a request is sent (default 15 000 ms). */
  readonly requestTimeoutMs?: number;
  /** Deadline for a request (a pull or send, not a write) waiting to be sent (default 30 000 ms). */
  readonly queueTimeoutMs?: number;
  /**
   * Local writes that may wait for the server (default 10 000); more fail with QueueFullError. They are
   * kept in the cache's outbox: in IndexedDB with indexedDbCache, in memory with memoryCache.
   */
  readonly maxPendingWrites?: number;
  /** Requests (pulls, sends) that may wait to be sent (default 1 000); more fail with QueueFullError. */
  readonly maxQueued?: number;
  /** Requests sent and awaiting their answer, at most (default 32; the server answers rate_limited past 64). */
  readonly maxInFlight?: number;
  /**
   * Pacing of this client's requests (default 90/s, burst 150: under the server's default 100/s,
   * burst 200, which it enforces by answering rate_limited and, if that goes on, closing). false: none.
   */
  readonly rateLimit?: RateLimit | false;
  /** Deadline for the server's welcome after opening the socket (default 10 000 ms). */
  readonly welcomeTimeoutMs?: number;
  /** A connection that lasted this long resets the backoff (default 5 000 ms). */
  readonly stableAfterMs?: number;
  /**
   * How long a socket node the client failed to reach (refused, upgrade error, dropped before welcome,
   * or closed abnormally with 1006) is sent in `exclude` on the next connects (default 10 000 ms; 0: never).
   */
  readonly avoidFailedNodeMs?: number;
  /**
   * Reconnect to the fallback node the last `welcome` offered (docs/protocol.md 3.1, extension) before
   * asking the distributor again, once per lost connection (default true). false: always POST /v1/connect.
   */
  readonly useFallback?: boolean;
  readonly logger?: ClientLogger;
}

export interface SyncClient {
  readonly userId: string;
  readonly deviceId: string;
  readonly status: ConnectionStatus;
  /** Set while connected. */
  readonly connectionId: string | undefined;
  readonly node: string | undefined;

  /** Adds a listener; returns a function that removes it. */
  on<K extends keyof SyncClientEvents>(type: K, listener: (event: SyncClientEvents[K]) => void): () => void;
  once<K extends keyof SyncClientEvents>(type: K, listener: (event: SyncClientEvents[K]) => void): () => void;
  off<K extends keyof SyncClientEvents>(type: K, listener: (event: SyncClientEvents[K]) => void): void;

  /** Resolves when connected (at once if connected); rejects after `timeoutMs` (default 30 000) or when the client goes offline. */
  whenConnected(timeoutMs?: number): Promise<void>;

  /**
   * Pulls `collection` from its cursor until the server has nothing more, applying each change to the
   * cache ('change' events, origin 'remote'). Concurrent calls for one collection share one pull loop
   * (a call made while a pull runs makes it pull once more). The collection is pulled on every reconnect from then on.
   */
  sync(collection: string): Promise<void>;

  /**
   * Writes changes to one collection, offline-first. Before this returns, the changes show in get() and
   * entries() (with `pending: true`) and 'change' events (pending) have fired; the write is queued in
   * the cache's outbox (see flush() for when it is durable) and 'pending' reports the new count.
   * Queued writes are sent in order, one commit at a time, whenever the client is connected; each
   * carries a txid, so one resent after a lost answer is not applied twice.
   *
   * The promise resolves with the server's answer, however long that takes (it does not time out while
   * the client runs): the cache then holds the result: applied changes ('change' events, origin
   * 'local'), and for stale bases the server's state ('conflict' events, and 'change' events, origin
   * 'remote'). Not atomic across keys: a change whose base is stale is skipped while the others are
   * written. It rejects when the server refuses the write for good (ServerError: bad_request,
   * too_large, quota_exceeded...; the write is dropped and an 'error' event WriteRejectedError
   * follows), when the queue is full (QueueFullError) or when the client is closed first (OfflineError:
   * the write stays queued in a persistent cache). The promise is marked handled: a UI need not await it.
   */
  commit(collection: string, changes: readonly ChangeInput[]): Promise<CommitResult>;
  /** One-key commit(): `options.ifRev` makes it conditional (see WriteOptions). */
  put(collection: string, key: string, value: unknown, options?: WriteOptions): Promise<CommitResult>;
  /** One-key deletion, as put(). */
  delete(collection: string, key: string, options?: WriteOptions): Promise<CommitResult>;
  /** Local writes the server has not acknowledged yet (also reported by the 'pending' event). */
  readonly pendingWrites: number;
  /** Resolves once every local write so far (and every cached record) is durable in the cache's store. */
  flush(): Promise<void>;

  /** What the client shows for `key`: a pending local write, else the cached record; undefined when absent or deleted. */
  get(collection: string, key: string): CachedRecord | undefined;
  /**
   * Every live (not deleted) record of `collection`, pending local writes applied: in the order they
   * entered the cache, then keys the server has not seen yet in the order they were written.
   */
  entries(collection: string): Array<[string, CachedRecord]>;
  /** Calls `listener` for every change of `collection` (same events as 'change'); returns a function that removes it. */
  onCollection(collection: string, listener: (event: ChangeEvent) => void): () => void;
  /** Calls `listener` for every change of one key; returns a function that removes it. */
  onKey(collection: string, key: string, listener: (event: ChangeEvent) => void): () => void;

  /** Sends a command to another device of this user; it is kept until that device acks it. */
  send(toDevice: string, body: unknown): Promise<{ commandId: string }>;
  /** Acks a command by id (same as the event's ack()). */
  ack(commandId: string): void;

  /** Connects again now: after going offline, or to cut a reconnect delay short. */
  reconnect(): void;
  /**
   * Closes the connection, fails waiting requests with OfflineError, flushes the cache. Writes not yet
   * acknowledged stay in the cache's outbox (a persistent cache sends them from the next client on it).
   */
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}
