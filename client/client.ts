/**
 * The Syncmesh client: one device of one user, connected through the distributor to a socket server.
 *
 * Connection lifecycle (one loop, run until close() or a terminal refusal):
 *   allocate a socket (POST /v1/connect) -> open `socket.url?ticket=` -> welcome -> connected
 *   -> on any close or failure: wait, then allocate again (the distributor may pick another node).
 * The wait is the jittered exponential backoff (reset once a connection stayed up `stableAfterMs`),
 * the server's `retryAfterMs` after a drain, or the distributor's Retry-After. Terminal outcomes stop the
 * loop with status 'offline': close codes 4100-4199 (e.g. `replaced`: another session of this device
 * took over, and reconnecting would kick it out in turn), a token refused twice, 400/403 from the distributor.
 * A socket node the client failed to reach (open failed, dropped before welcome, or closed abnormally) is
 * sent in `exclude` on the next connects for a while (failed-nodes.ts), and the first retry after an
 * abnormal drop of a working connection is quick: the next allocation avoids the failed node, so there
 * is no reason to wait out a backoff while the distributor still lists it.
 */
import { isTerminalCode, CloseCode } from '../protocol/mod.js';
import { createBackoff, type Backoff } from './backoff.js';
import { memoryCache, type Cache, type CachedRecord } from './cache.js';
import { toSafeInteger } from './codec.js';
import { CollectionSync, parseRecords } from './collections.js';
import { CommandInbox, DeliveredFilter } from './commands.js';
import {
  AuthError, CacheStorageError, ConnectionLostError, DistributorError, ListenerError, OfflineError, ProtocolError, RequestTimeoutError,
  SyncError, serverErrorFromFrame,
} from './errors.js';
import { TypedEmitter } from './events.js';
import { OUTBOX_DEFAULTS, Outbox } from './outbox.js';
import { ChangeListeners } from './change-listeners.js';
import { FAILED_NODE_TTL_MS, FailedNodes } from './failed-nodes.js';
import { REQUEST_DEFAULTS, RequestTracker } from './requests.js';
import {
  CLIENT_CLOSE_NORMAL, FrameSocket, allocateSocket, readFallback, socketUrl, type FetchLike, type Frame, type SocketAllocation,
  type SocketCloseInfo, type WebSocketConstructor,
} from './transport.js';
import type {
  ChangeEvent, ChangeInput, ClientLogger, CommitResult, ConflictRecord, ConnectionStatus, StatusEvent, SyncClient, SyncClientEvents,
  SyncClientOptions, WriteOptions,
} from './types.js';

const DEFAULTS = {
  welcomeTimeoutMs: 10_000,
  stableAfterMs: 5_000,
  whenConnectedMs: 30_000,
} as const;
/** A drain delay beyond this is a server bug; the client does not wait longer. */
const MAX_DRAIN_DELAY_MS = 60_000;
/** How long past `retryAfterMs` a draining client waits for answers to requests it already sent. */
const DRAIN_ANSWER_WAIT_MS = 3_000;
/** First retry after a working connection dropped abnormally: 100-250 ms (jittered so a node's clients spread). */
const FAST_RETRY_MIN_MS = 100;
const FAST_RETRY_SPREAD_MS = 150;
/**
 * The same with a fallback offer in hand: 100-1000 ms, or up to the offer's `spreadMs` when it asks for
 * more. Nothing else paces a dead node's clients then (the distributor's answers did), and all of them go
 * straight to the survivors: spread over a second, they do not overflow the survivors' accept queues (P7:
 * thousands of SYNs dropped, each a 1-s retransmission, and event-loop stalls of 1-2 s in the survivors'
 * accept handlers with the shorter spread); a node of many connections sizes a longer spread itself.
 */
const FAST_FALLBACK_SPREAD_MS = 900;
/** WebSocket close code for a connection lost without a close frame (RFC 6455). */
const CLOSE_ABNORMAL = 1006;
/** A fallback ticket expiring sooner than this is not tried (clocks differ; the distributor is asked instead). */
const FALLBACK_MARGIN_MS = 5_000;

const silentLogger: ClientLogger = { debug() {}, info() {}, warn() {}, error() {} };

interface Run {
  readonly abort: AbortController;
  /** Cuts the current reconnect wait short. */
  wake: (() => void) | undefined;
  done: Promise<void>;
}

/** What to do after a connection or an attempt ended: wait `delay` ms, or stop (delay null). */
interface Next {
  readonly delay: number | null;
  readonly reason: string;
  readonly error?: SyncError;
}

class SyncClientImpl implements SyncClient {
  readonly userId: string;
  readonly deviceId: string;
  readonly #opts: SyncClientOptions;
  readonly #WebSocket: WebSocketConstructor;
  readonly #fetch: FetchLike;
  readonly #cache: Cache;
  readonly #ownsCache: boolean;
  readonly #cacheReady: Promise<void>;
  readonly #log: ClientLogger;
  readonly #emitter: TypedEmitter<SyncClientEvents>;
  readonly #tracker: RequestTracker;
  readonly #collections: CollectionSync;
  readonly #outbox: Outbox;
  readonly #listeners = new ChangeListeners();
  readonly #backoff: Backoff;
  readonly #failedNodes: FailedNodes;
  #status: ConnectionStatus = 'offline';
  #reason: string | undefined;
  #run: Run | undefined;
  #socket: FrameSocket | undefined;
  #connectionId: string | undefined;
  #node: string | undefined;
  #connectedAt = 0;
  #everConnected = false;
  #token: string | undefined;
  /** The last welcome's fallback offer: where to go first when that connection is lost (used once). */
  #fallback: SocketAllocation | undefined;
  #drainAt: number | undefined;
  #drainTimer: ReturnType<typeof setTimeout> | undefined;
  readonly #commands: CommandInbox;
  readonly #delivered = new DeliveredFilter();
  #closed: Promise<void> | undefined;
  #removeOnlineListener: (() => void) | undefined;

  constructor(opts: SyncClientOptions) {
    for (const field of ['distributorUrl', 'userId', 'deviceId'] as const) {
      if (typeof opts[field] !== 'string' || opts[field].length === 0) throw new TypeError(`createSyncClient: options.${field} must be a non-empty string`);
    }
    if (!opts.getToken && typeof opts.token !== 'string') throw new TypeError('createSyncClient: pass options.getToken (or a fixed options.token)');
    const WS = opts.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
    if (!WS) throw new TypeError("createSyncClient: this runtime has no global WebSocket; pass options.WebSocket (in Node 20: import WebSocket from 'ws')");
    const fetchFn = opts.fetch ?? (typeof globalThis.fetch === 'function' ? globalThis.fetch.bind(globalThis) : undefined);
    if (!fetchFn) throw new TypeError('createSyncClient: this runtime has no global fetch; pass options.fetch');
    this.userId = opts.userId;
    this.deviceId = opts.deviceId;
    this.#opts = opts;
    this.#WebSocket = WS;
    this.#fetch = fetchFn;
    this.#log = opts.logger ?? silentLogger;
    this.#emitter = new TypedEmitter<SyncClientEvents>((event, err) => {
      if (event === 'error') this.#log.error({ err }, "a listener of 'error' threw");
      else this.#emitError(new ListenerError(String(event), { cause: err }));
    });
    this.#backoff = createBackoff(opts.backoff);
    this.#failedNodes = new FailedNodes(opts.avoidFailedNodeMs ?? FAILED_NODE_TTL_MS);
    this.#tracker = new RequestTracker(
      {
        requestTimeoutMs: opts.requestTimeoutMs ?? REQUEST_DEFAULTS.requestTimeoutMs,
        queueTimeoutMs: opts.queueTimeoutMs ?? REQUEST_DEFAULTS.queueTimeoutMs,
        maxQueued: opts.maxQueued ?? REQUEST_DEFAULTS.maxQueued,
        maxInFlight: opts.maxInFlight ?? REQUEST_DEFAULTS.maxInFlight,
        rateLimit: opts.rateLimit ?? REQUEST_DEFAULTS.rateLimit,
      },
      // An open connection that does not answer is presumed dead (half-open TCP): start over.
      (err) => {
        this.#log.warn({ err: err.message }, 'request timed out; reconnecting');
        this.#socket?.close(CLIENT_CLOSE_NORMAL, 'request timeout');
      },
    );
    this.#ownsCache = !opts.cache;
    this.#cache = opts.cache ?? memoryCache();
    this.#cache.onError = (err) => this.#emitError(err instanceof SyncError ? err : new CacheStorageError(err.message, { cause: err }));
    this.#cacheReady = this.#cache.open().catch((err: unknown) => {
      // The in-memory part still works: the client syncs, it just forgets on reload.
      this.#emitError(err instanceof SyncError ? err : new CacheStorageError(`cannot open the cache: ${String(err)}`, { cause: err }));
    });
    this.#collections = new CollectionSync(
      this.#cache,
      this.#tracker,
      {
        // A key with a pending local write shows that write: the server's records under it change
        // nothing visible until the write is answered (the outbox then reports the key's state).
        change: (e) => {
          if (!this.#outbox.has(e.collection, e.key)) this.#emitChange(e);
        },
        conflict: (e) => this.#emitter.emit('conflict', e),
      },
      this.#log,
      this.#cacheReady,
    );
    this.#outbox = new Outbox(
      this.#cache,
      this.#collections,
      {
        change: (e) => this.#emitChange(e),
        pending: (count) => this.#emitter.emit('pending', { count }),
        error: (err) => this.#emitError(err),
      },
      this.#log,
      () => this.#status === 'connected' && this.#socket !== undefined,
      opts.maxPendingWrites ?? OUTBOX_DEFAULTS.maxPendingWrites,
    );
    // Registered before the connection loop awaits the cache: queued writes are loaded before any connect.
    void this.#cacheReady.then(() => this.#outbox.load());
    for (const c of opts.collections ?? []) this.#collections.remember(c);
    this.#commands = new CommandInbox((e) => this.#emitter.emit('command', e), opts.autoAck === true);
    this.#listenForBrowserOnline();
    if (opts.autoConnect !== false) this.#start();
  }

  get status(): ConnectionStatus {
    return this.#status;
  }
  get connectionId(): string | undefined {
    return this.#connectionId;
  }
  get node(): string | undefined {
    return this.#node;
  }

  on<K extends keyof SyncClientEvents>(type: K, listener: (event: SyncClientEvents[K]) => void): () => void {
    return this.#emitter.on(type, listener);
  }
  once<K extends keyof SyncClientEvents>(type: K, listener: (event: SyncClientEvents[K]) => void): () => void {
    return this.#emitter.once(type, listener);
  }
  off<K extends keyof SyncClientEvents>(type: K, listener: (event: SyncClientEvents[K]) => void): void {
    this.#emitter.off(type, listener);
  }

  whenConnected(timeoutMs: number = DEFAULTS.whenConnectedMs): Promise<void> {
    if (this.#status === 'connected') return Promise.resolve();
    if (!this.#run) return Promise.reject(new OfflineError(`the client is offline (${this.#reason ?? 'not started'}); call reconnect()`));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        off();
        reject(new RequestTimeoutError(`not connected within ${timeoutMs} ms (status ${this.#status}${this.#reason ? `: ${this.#reason}` : ''})`));
      }, timeoutMs);
      const off = this.#emitter.on('status', (ev) => {
        if (ev.status !== 'connected' && ev.status !== 'offline') return;
        clearTimeout(timer);
        off();
        if (ev.status === 'connected') resolve();
        else reject(new OfflineError(`the client went offline: ${ev.reason ?? 'stopped'}`));
      });
    });
  }

  sync(collection: string): Promise<void> {
    checkCollection(collection);
    return this.#collections.sync(collection);
  }

  get pendingWrites(): number {
    return this.#outbox.size;
  }

  commit(collection: string, changes: readonly ChangeInput[]): Promise<CommitResult> {
    checkCollection(collection);
    if (!Array.isArray(changes)) throw new TypeError('commit: changes must be an array');
    return this.#outbox.add(collection, changes.map((c) => (c.deleted === true
      ? { key: c.key, deleted: true, ...(c.base !== undefined ? { base: c.base } : {}) }
      : { key: c.key, value: c.value, deleted: false, ...(c.base !== undefined ? { base: c.base } : {}) })));
  }

  put(collection: string, key: string, value: unknown, options?: WriteOptions): Promise<CommitResult> {
    checkCollection(collection);
    return this.#outbox.add(collection, [{ key, value, deleted: false, ...this.#condition(collection, key, options) }]);
  }

  delete(collection: string, key: string, options?: WriteOptions): Promise<CommitResult> {
    checkCollection(collection);
    return this.#outbox.add(collection, [{ key, deleted: true, ...this.#condition(collection, key, options) }]);
  }

  /**
   * `ifRev: true` is "the rev I see": the cached rev, or, when the key has a write still queued, the rev
   * that write will get (chained: resolved when it is sent).
   */
  #condition(collection: string, key: string, options: WriteOptions | undefined): { base?: number; chained?: boolean } {
    if (options?.ifRev === true) {
      return this.#outbox.has(collection, key) ? { chained: true } : { base: this.#cache.get(collection, key)?.rev ?? 0 };
    }
    return options?.ifRev === undefined ? {} : { base: options.ifRev };
  }

  get(collection: string, key: string): CachedRecord | undefined {
    const record = this.#outbox.read(collection, key) ?? this.#cache.get(collection, key);
    return record && !record.deleted ? record : undefined;
  }

  entries(collection: string): Array<[string, CachedRecord]> {
    const out: Array<[string, CachedRecord]> = [];
    for (const [key, r] of this.#cache.entries(collection)) {
      const record = this.#outbox.read(collection, key) ?? r;
      if (!record.deleted) out.push([key, record]);
    }
    // Keys the server has not seen yet, in the order they were written.
    for (const key of this.#outbox.keys(collection)) {
      if (this.#cache.get(collection, key)) continue;
      const record = this.#outbox.read(collection, key);
      if (record && !record.deleted) out.push([key, record]);
    }
    return out;
  }

  onCollection(collection: string, listener: (event: ChangeEvent) => void): () => void {
    checkCollection(collection);
    return this.#listeners.onCollection(collection, listener);
  }

  onKey(collection: string, key: string, listener: (event: ChangeEvent) => void): () => void {
    checkCollection(collection);
    return this.#listeners.onKey(collection, key, listener);
  }

  flush(): Promise<void> {
    return this.#cache.flush();
  }

  #emitChange(e: ChangeEvent): void {
    this.#emitter.emit('change', e);
    this.#listeners.emit(e, (err) => this.#emitError(new ListenerError('change', { cause: err })));
  }

  async send(toDevice: string, body: unknown): Promise<{ commandId: string }> {
    if (typeof toDevice !== 'string' || toDevice.length === 0) throw new TypeError('send: toDevice must be a non-empty device id');
    const answer = await this.#tracker.request({ t: 'send', toDevice, body }, 'sent');
    if (typeof answer.commandId !== 'string') throw new ProtocolError("the server answered 'send' without a commandId");
    return { commandId: answer.commandId };
  }

  ack(commandId: string): void {
    this.#commands.ack(commandId);
  }

  reconnect(): void {
    if (this.#closed) throw new OfflineError('this client was closed; create a new one');
    this.#backoff.reset();
    if (this.#run) this.#run.wake?.();
    else this.#start();
  }

  close(): Promise<void> {
    this.#closed ??= (async () => {
      this.#removeOnlineListener?.();
      this.#outbox.close();
      const run = this.#run;
      this.#goOffline('closed by the application');
      await run?.done;
      this.#listeners.clear();
      try {
        await this.#cache.flush();
      } catch (err) {
        this.#log.warn({ err }, 'the cache could not save every change before closing');
      }
      if (this.#ownsCache) await this.#cache.close();
      this.#emitter.removeAllListeners();
    })();
    return this.#closed;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  // ---- connection lifecycle ----

  #start(): void {
    this.#tracker.restart();
    const run: Run = { abort: new AbortController(), wake: undefined, done: Promise.resolve() };
    this.#run = run;
    this.#setStatus(this.#everConnected ? 'reconnecting' : 'connecting');
    run.done = this.#loop(run).catch((err: unknown) => {
      // Only a bug in this file gets here; report it rather than leave the client silently stuck.
      this.#goOffline('internal error', new SyncError(`the connection loop failed: ${String(err)}`, { cause: err }));
    });
  }

  async #loop(run: Run): Promise<void> {
    await this.#cacheReady;
    const signal = run.abort.signal;
    while (!signal.aborted) {
      let next: Next;
      try {
        const allocation = this.#takeFallback() ?? (await this.#allocate(signal));
        if (signal.aborted) break;
        next = await this.#connect(allocation, signal);
      } catch (err) {
        next = this.#afterFailure(err);
      }
      if (signal.aborted) break;
      if (next.delay === null) {
        this.#goOffline(next.reason, next.error);
        break;
      }
      this.#log.info({ reason: next.reason, retryInMs: next.delay }, 'reconnecting');
      this.#setStatus('reconnecting', { retryInMs: next.delay, reason: next.reason });
      await this.#sleep(run, next.delay);
      if (!signal.aborted) this.#setStatus('reconnecting');
    }
  }

  /**
   * The last welcome's fallback offer, at most once: skipped when turned off, about to expire, or for a
   * node this client just failed to reach. A fallback that fails is handled like any failed node (the
   * next attempt asks the distributor, excluding it).
   */
  #takeFallback(): SocketAllocation | undefined {
    const offer = this.#fallback;
    this.#fallback = undefined;
    if (offer === undefined || this.#opts.useFallback === false) return undefined;
    const now = Date.now();
    if (offer.expiresAt - now < FALLBACK_MARGIN_MS) return undefined;
    if (offer.node !== undefined && this.#failedNodes.list(now).includes(offer.node)) return undefined;
    this.#log.info({ node: offer.node }, 'reconnecting to the fallback node of the last welcome');
    return offer;
  }

  /** Asks the distributor for a socket; on 401 asks getToken for a fresh token once. */
  async #allocate(signal: AbortSignal): Promise<SocketAllocation> {
    const ask = (token: string): Promise<SocketAllocation> =>
      allocateSocket({
        fetch: this.#fetch, distributorUrl: this.#opts.distributorUrl, token, userId: this.userId, deviceId: this.deviceId,
        exclude: this.#failedNodes.list(), signal,
      });
    this.#token ??= await this.#fetchToken();
    try {
      return await ask(this.#token);
    } catch (err) {
      if (!(err instanceof DistributorError && err.status === 401)) throw err;
      this.#token = undefined;
      if (!this.#opts.getToken) throw new AuthError(`the distributor refused the token (${err.message}); pass getToken so the client can fetch a fresh one`, { cause: err });
    }
    this.#token = await this.#fetchToken();
    try {
      return await ask(this.#token);
    } catch (err) {
      if (!(err instanceof DistributorError && err.status === 401)) throw err;
      this.#token = undefined;
      throw new AuthError(`the distributor refused a freshly fetched token for user '${this.userId}' (${err.message}); sign in again, then call reconnect()`, { cause: err });
    }
  }

  async #fetchToken(): Promise<string> {
    const token = this.#opts.getToken ? await this.#opts.getToken() : this.#opts.token;
    if (typeof token !== 'string' || token.length === 0) throw new SyncError('getToken returned no token');
    return token;
  }

  /** Opens the socket and lives through one connection; returns what to do once it closed. */
  async #connect(allocation: SocketAllocation, signal: AbortSignal): Promise<Next> {
    // `exclude`: the nodes just failed on, so that the fallback this node offers avoids them (docs/protocol.md 3.1).
    const url = socketUrl(allocation.socket.url, allocation.ticket, this.#failedNodes.list());
    const socket: FrameSocket = new FrameSocket(
      this.#WebSocket,
      url,
      {
        onWelcome: (welcome) => {
          this.#fallback = welcome.fallback;
          this.#onWelcome(socket, welcome.connectionId, welcome.node, welcome.epoch);
        },
        onFrame: (frame) => this.#onFrame(socket, frame),
        onProtocolError: (err) => this.#emitError(err),
      },
      this.#opts.welcomeTimeoutMs ?? DEFAULTS.welcomeTimeoutMs,
    );
    const onAbort = (): void => socket.close(CLIENT_CLOSE_NORMAL, 'client closed');
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      return this.#afterClose(socket, await socket.closed, allocation, signal);
    } finally {
      signal.removeEventListener('abort', onAbort);
    }
  }

  #onWelcome(socket: FrameSocket, connectionId: string, node: string, epoch: string | undefined): void {
    // Before any request goes out on this connection: pulls must use cursors of the server's epoch.
    if (epoch !== undefined) this.#adoptEpoch(epoch);
    this.#socket = socket;
    this.#connectionId = connectionId;
    this.#node = node;
    this.#connectedAt = Date.now();
    this.#everConnected = true;
    this.#drainAt = undefined;
    this.#log.info({ connectionId, node }, 'connected');
    this.#setStatus('connected');
    this.#commands.online((commandId) => socket.send({ t: 'ack', commandId }));
    this.#tracker.online((frame) => socket.send(frame));
    this.#outbox.pump();
    for (const collection of this.#collections.known()) this.#syncInBackground(collection);
  }

  /**
   * Revs and cursors only mean something in the storage epoch they came from. A cache of another epoch
   * (the cluster's data was wiped or its stream recreated), or of an unknown one (saved before the
   * server sent epochs), is emptied, and every collection is pulled from 0 on this connection.
   */
  #adoptEpoch(epoch: string): void {
    const cached = this.#cache.epoch();
    if (cached === epoch) return;
    if (cached !== undefined || this.#cache.collections().length > 0) {
      this.#log.warn({ cached: cached ?? null, epoch }, "the server's data store is not the one the cache came from: dropping the cache and pulling everything again");
    }
    this.#collections.resetTo(epoch);
    // A first epoch (a new cache) changes nothing for queued writes; another one voids their revs.
    if (cached !== undefined) this.#outbox.epochChanged();
  }

  #afterClose(socket: FrameSocket, info: SocketCloseInfo, allocation: SocketAllocation, signal: AbortSignal): Next {
    // False for a socket that never got its welcome, and for one goOffline() already let go of (by then
    // a reconnect() may have opened another: its state must not be touched from here).
    const wasConnected = this.#socket === socket;
    const reason = describeClose(info);
    const welcomedNode = wasConnected ? this.#node : undefined;
    // Could not open it, lost before the welcome, or lost without a close frame (the node died, or the
    // path to it): avoid that node on the next connects. A close the server or client chose is not a failure.
    const failed = !info.welcomed || info.code === CLOSE_ABNORMAL;
    const failedNode = failed && !signal.aborted ? (allocation.node ?? welcomedNode) : undefined;
    if (failedNode !== undefined) {
      this.#failedNodes.add(failedNode);
      this.#log.info({ node: failedNode }, 'avoiding a socket node that failed on the next connects');
    }
    if (wasConnected) {
      clearTimeout(this.#drainTimer);
      this.#commands.offline();
      this.#tracker.connectionLost(reason);
      this.#socket = undefined;
      this.#connectionId = undefined;
      this.#node = undefined;
      if (Date.now() - this.#connectedAt >= (this.#opts.stableAfterMs ?? DEFAULTS.stableAfterMs)) this.#backoff.reset();
    }
    if (isTerminalCode(info.code)) {
      const message = info.code === CloseCode.replaced
        ? `another connection of device '${this.deviceId}' replaced this one, so this client stopped rather than take it back; call reconnect() to take over again`
        : `the socket server closed the connection for good (${reason}); call reconnect() once the cause is fixed`;
      return { delay: null, reason, error: new OfflineError(message) };
    }
    if (wasConnected && this.#drainAt !== undefined) {
      const delay = Math.max(0, this.#drainAt - Date.now());
      this.#drainAt = undefined;
      return { delay, reason: 'the socket server is draining' };
    }
    // A connection that had been stable (backoff reset) dropped abnormally: retry almost at once, it
    // still counts as an attempt so a node that keeps dropping clients gets the growing backoff.
    if (wasConnected && info.code === CLOSE_ABNORMAL && this.#backoff.attempts === 0) {
      this.#backoff.next();
      const offer = this.#opts.useFallback !== false ? this.#fallback : undefined;
      // An offer may carry the spread its node sized for the survivors (docs/protocol.md 3.1); never shorter than the client's own.
      const spread = offer === undefined ? FAST_RETRY_SPREAD_MS : Math.max(FAST_FALLBACK_SPREAD_MS, (offer.spreadMs ?? 0) - FAST_RETRY_MIN_MS);
      return { delay: FAST_RETRY_MIN_MS + Math.floor(Math.random() * (spread + 1)), reason };
    }
    return { delay: this.#backoff.next(), reason };
  }

  #afterFailure(err: unknown): Next {
    const reason = err instanceof Error ? err.message : String(err);
    if (err instanceof AuthError) return { delay: null, reason, error: err };
    if (err instanceof DistributorError) {
      // 400 and 403 repeat until the application changes something (user id, token subject).
      if (err.status === 400 || err.status === 403) {
        return { delay: null, reason, error: new OfflineError(`the distributor refused user '${this.userId}' / device '${this.deviceId}': ${err.message}`, { cause: err }) };
      }
      if (err.retryAfterMs !== undefined) {
        // Honour Retry-After, plus a little jitter so clients told the same thing do not return together.
        const spread = Math.floor(Math.random() * Math.min(1_000, err.retryAfterMs / 5 + 1));
        this.#backoff.next();
        return { delay: err.retryAfterMs + spread, reason };
      }
    }
    this.#log.warn({ err: reason }, 'connection attempt failed');
    return { delay: this.#backoff.next(), reason };
  }

  #sleep(run: Run, ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        run.abort.signal.removeEventListener('abort', done);
        run.wake = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      run.abort.signal.addEventListener('abort', done, { once: true });
      run.wake = done;
    });
  }

  /** Stops the loop for good (until reconnect()): fails every waiting request, status 'offline'. */
  #goOffline(reason: string, error?: SyncError): void {
    const run = this.#run;
    this.#run = undefined;
    run?.abort.abort();
    clearTimeout(this.#drainTimer);
    this.#drainAt = undefined;
    this.#socket?.close(CLIENT_CLOSE_NORMAL, 'client stopped');
    this.#socket = undefined;
    this.#commands.offline();
    this.#connectionId = undefined;
    this.#node = undefined;
    this.#tracker.stop(new OfflineError(`the client is offline (${reason}); call reconnect() to try again`));
    this.#log.warn({ reason }, 'offline');
    this.#setStatus('offline', { reason });
    if (error) this.#emitError(error);
  }

  // ---- frames ----

  #onFrame(socket: FrameSocket, frame: Frame): void {
    switch (frame.t) {
      case 'committed':
      case 'changes':
      case 'sent':
        if (!this.#tracker.answer(frame)) this.#log.debug({ t: frame.t, id: frame.id }, 'answer to no waiting request (timed out?)');
        return;
      case 'error':
        if (frame.id === undefined || frame.id === null || !this.#tracker.answer(frame)) {
          this.#emitError(serverErrorFromFrame(frame.code, frame.message, toSafeInteger(frame.id)));
        }
        return;
      case 'sync':
        if (typeof frame.collection === 'string' && frame.collection.length > 0) {
          const collection = frame.collection;
          this.#collections.remember(collection);
          this.#collections.onSyncFrame(collection, toSafeInteger(frame.rev), inlineChanges(frame)).catch((err: unknown) => this.#pullFailed(collection, err));
        }
        return;
      case 'resync':
        // The server may have missed pushes for this connection: pull everything followed, from the cursors.
        this.#log.info({ collections: this.#collections.known().length }, 'resync: pulling every followed collection');
        for (const collection of this.#collections.known()) this.#syncInBackground(collection);
        return;
      case 'command':
        {
          const problem = this.#commands.receive(frame);
          if (problem) this.#emitError(problem);
        }
        return;
      case 'delivered':
        if (typeof frame.commandId === 'string' && this.#delivered.first(frame.commandId)) this.#emitter.emit('delivered', { commandId: frame.commandId });
        return;
      case 'drain':
        this.#onDrain(socket, frame);
        return;
      case 'fallback':
        // A newer offer than the welcome's (the socket servers changed, or the last one grew old); none: drop it.
        if (socket === this.#socket && this.#connectionId !== undefined) this.#fallback = readFallback(frame.fallback, this.#connectionId);
        return;
      default:
        // Newer servers may add frame types (PROTOCOL.md: the contract may be extended).
        this.#log.debug({ t: frame.t }, 'ignored a frame type this client does not know');
    }
  }

  #onDrain(socket: FrameSocket, frame: Frame): void {
    const delay = Math.min(MAX_DRAIN_DELAY_MS, Math.max(0, toSafeInteger(frame.retryAfterMs) ?? 0));
    this.#drainAt = Date.now() + delay;
    // New requests wait for the next node; those in flight still get their answers here.
    this.#tracker.offline();
    this.#log.info({ retryAfterMs: delay, node: this.#node }, 'socket server draining');
    this.#setStatus('reconnecting', { retryInMs: delay, reason: 'the socket server is draining' });
    clearTimeout(this.#drainTimer);
    // Move after the delay, but not before the requests in flight here are answered (the server keeps
    // answering for a while after its drain frame), so a drain loses no answer. Bounded: a request that
    // gets no answer times out, and the server closes the socket itself after its grace period.
    const deadline = Date.now() + delay + DRAIN_ANSWER_WAIT_MS;
    const leave = (): void => {
      if (this.#tracker.inFlight > 0 && Date.now() < deadline) {
        this.#drainTimer = setTimeout(leave, 20);
        return;
      }
      socket.close(CLIENT_CLOSE_NORMAL, 'drained');
    };
    this.#drainTimer = setTimeout(leave, delay);
  }

  #syncInBackground(collection: string): void {
    this.#collections.sync(collection).catch((err: unknown) => this.#pullFailed(collection, err));
  }

  #pullFailed(collection: string, err: unknown): void {
    // A lost, dead (timed out) or stopped connection is not news: the next connection pulls every known collection again.
    if (err instanceof OfflineError || err instanceof ConnectionLostError || err instanceof RequestTimeoutError) return;
    this.#emitError(err instanceof SyncError ? err : new SyncError(`pulling '${collection}' failed: ${String(err)}`, { cause: err }));
  }

  // ---- events ----

  #setStatus(status: ConnectionStatus, extra: { retryInMs?: number; reason?: string } = {}): void {
    this.#status = status;
    if (extra.reason !== undefined) this.#reason = extra.reason;
    if (status === 'connected') this.#reason = undefined;
    const event: StatusEvent = {
      status,
      attempt: this.#backoff.attempts,
      ...(status === 'connected' ? { connectionId: this.#connectionId, node: this.#node } : {}),
      ...extra,
    };
    this.#emitter.emit('status', event);
  }

  #emitError(err: SyncError): void {
    this.#log.warn({ err: err.message, name: err.name }, 'client error');
    this.#emitter.emit('error', err);
  }

  /**
   * In a browser, coming back online is the best moment to retry: cut the wait short. Going offline
   * closes the socket at once: a socket over a lost network may take minutes to notice it is dead,
   * and writes made meanwhile would wait on it instead of showing as pending.
   */
  #listenForBrowserOnline(): void {
    const target = globalThis as { addEventListener?: (t: string, l: () => void) => void; removeEventListener?: (t: string, l: () => void) => void };
    if (typeof target.addEventListener !== 'function' || typeof target.removeEventListener !== 'function') return;
    const onOnline = (): void => {
      if (this.#run && this.#status === 'reconnecting') this.#run.wake?.();
    };
    const onOffline = (): void => {
      if (!this.#socket) return;
      this.#log.info({ node: this.#node }, 'the browser went offline: closing the socket');
      this.#socket.close(CLIENT_CLOSE_NORMAL, 'the browser went offline');
    };
    target.addEventListener('online', onOnline);
    target.addEventListener('offline', onOffline);
    this.#removeOnlineListener = () => {
      target.removeEventListener?.('online', onOnline);
      target.removeEventListener?.('offline', onOffline);
    };
  }
}

function checkCollection(collection: string): void {
  if (typeof collection !== 'string' || collection.length === 0) throw new TypeError('collection must be a non-empty string');
}

function describeClose(info: SocketCloseInfo): string {
  if (!info.welcomed) return `could not open the socket${info.error ? `: ${info.error}` : ` (close ${info.code})`}`;
  return `socket closed (${info.code}${info.reason ? ` ${info.reason}` : ''})`;
}

/**
 * Creates a client for one device of one user and, unless `autoConnect: false`, starts connecting.
 * Listen to 'status', 'change', 'command' and 'error' right away: events start on the next tick.
 */
export function createSyncClient(options: SyncClientOptions): SyncClient {
  return new SyncClientImpl(options);
}

/** The records a `sync` frame carries (protocol SyncFrame `from`, `changes`), or undefined when it carries none or they are malformed. */
function inlineChanges(frame: Frame): { from: number; changes: ConflictRecord[] } | undefined {
  if (frame.changes === undefined) return undefined;
  const from = toSafeInteger(frame.from);
  const changes = parseRecords(frame.changes);
  return from === undefined || changes === undefined ? undefined : { from, changes };
}
