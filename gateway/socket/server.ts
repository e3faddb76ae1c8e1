/**
 * The socket server: a uWebSockets.js listener run by a `socket-server` actor (actors/socket-server),
 * whose machine owns the lifecycle (starting, listening, draining, stopped) and parents the node's
 * `session` actors, one per connection. SocketServer is that actor's port: it does what each state
 * asks, and mirrors the current phase to refuse upgrades while not listening.
 *
 * The uWS handlers are one-liners into SocketServer; the protocol lives in actors/session/. What
 * happens here: the ticket check at the upgrade (HTTP 401 on refusal, 503 unless listening), framing
 * checks (binary, size, MessagePack, rate), backpressure, drain and resync. Beside it: claims.ts (the
 * session fence), push-plane.ts and hub.ts (pushes to local sessions), connection.ts (one
 * connection), recovery.ts (what tells the actor pushes were missed), store-epoch.ts (the storage
 * epoch sent in `welcome`).
 *
 * HTTP answers besides the upgrade: `GET /healthz` -> 200 {"status":"ok", node, connections} (503
 * {"status":"draining"} while draining); anything else -> 404.
 */
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import * as uWS from 'uWebSockets.js';
import { CloseCode, ErrorCode, RESYNC_FRAME_BYTES, decode, errorFrame, type FallbackOffer } from '../../protocol/mod.js';
import { SOCKET_ROLE, parseConnectionId, socketMeta } from '../../protocol/cluster/mod.js';
import { SESSION_KIND, frameId } from '../../actors/session/mod.js';
import { SOCKET_SERVER_KIND, socketServerRef, type SocketServerPhase, type SocketServerPort } from '../../actors/socket-server/mod.js';
import { TimeSlices, type ActorNode, type ActorRef, type TerminatedMessage } from '../../runtime/mod.js';
import { TicketReplayGuard } from '../ticket.js';
import { Admission } from './admission.js';
import { Connection, type ConnectionHost, type SocketData } from './connection.js';
import { spreadOver, type Spread } from './drain.js';
import { SocketConfigError, SocketStartError } from './errors.js';
import { FenceClock } from './fence.js';
import { SessionClaims } from './claims.js';
import { parseAvoid } from './fallback.js';
import { FallbackSender } from './fallback-sender.js';
import { Hub } from './hub.js';
import { Teardown } from './teardown.js';
import { resolveOptions, type ResolvedOptions, type SocketServerOptions, type TlsFiles } from './options.js';
import { PushPlane } from './push-plane.js';
import { QUOTA_BATCH_META, UserQuota } from './quota.js';
import type { CountedConnection } from './connection-counts.js';
import { RecoveryWatch } from './recovery.js';
import { admit, Admit } from './rate-limit.js';
import { StoreEpoch } from './store-epoch.js';
import { admitTicket, refusalBody, TICKET_CLOCK_SKEW_MS } from './upgrade.js';

/** Counters and gauges of one socket server. */
export interface SocketServerStats {
  readonly connections: number;
  readonly users: number;
  /** Push slots this node subscribes to (one NATS subscription each; protocol/cluster/push.ts). */
  readonly pushSlots: number;
  readonly draining: boolean;
  /** The socket-server actor's state. */
  readonly phase: SocketServerPhase;
  /** Times every client was told to resync (missed pushes), and resync frames sent. */
  readonly resyncs: number;
  readonly resyncFrames: number;
  /**
   * `{t:"fallback"}` frames sent (new offers after the socket servers changed, and the half-life
   * refresh: fallback.ts), and those scheduled but not sent yet.
   */
  readonly fallbackFrames: number;
  readonly fallbackPending: number;
  /** Welcomes sent without their fallback offer while the node started a burst of sessions (the offer followed in a frame). */
  readonly fallbackDeferred: number;
  /** The reconnect spread this node's fallback offers carry now (storm-spread.ts), ms; 0: none. */
  readonly stormSpreadMs: number;
  readonly opened: number;
  /** Upgrades refused (bad ticket, draining, quota; shed ones too). */
  readonly refused: number;
  /** Upgrades answered 503 because maxStartingSessions sessions were starting (admission control). */
  readonly shed: number;
  /** Sessions starting now: sockets open whose pending commands are not fetched yet. */
  readonly starting: number;
  /** Connections closed right after opening because the user had maxConnectionsPerUser other connections live. */
  readonly quotaRefused: number;
  /** Live connections this node counts as the owner of their users (quota.ts), on any node. */
  readonly quotaOwned: number;
  /** Sessions closed because a newer one took their connection id. */
  readonly replaced: number;
  readonly slowConsumers: number;
  /** The most bytes a slow consumer had buffered on this node when it was cut (bounded by limits.maxBackpressureBytes plus one frame). */
  readonly slowConsumerBufferedMax: number;
  /** Frames refused by the rate limit, and connections closed for sustained abuse. */
  readonly rateLimited: number;
  readonly policyClosed: number;
  /** Text or undecodable frames (answered `bad_frame`; frames of a wrong shape are not counted here). */
  readonly badFrames: number;
  readonly pushesDelivered: number;
  readonly badPushEnvelopes: number;
}

/** A running socket server. */
export interface SocketServerHandle {
  /** The socket-server actor: tell it `{type:'drain'}` or `{type:'close'}`, watch it, from any node. */
  readonly ref: ActorRef;
  readonly port: number;
  /**
   * The URL the distributor hands out (clients append `?ticket=`): the publicUrl option when given,
   * else `ws://publicHost:port/ws`, or `wss://` when this server serves TLS.
   */
  readonly url: string;
  /**
   * This process's run of the node (random, announced in membership as `socketRun`): tickets name it,
   * and a ticket of another run is refused, so no ticket outlives a restart (gateway/ticket.ts).
   */
  readonly run: string;
  /**
   * Announces `draining` (the distributor stops sending clients here), sends every client
   * {t:"drain", retryAfterMs} at moments spread uniformly over drainSpreadMs, and closes each with
   * close code `draining` once the frame and its in-flight answers are flushed (at most drainGraceMs
   * later). Resolves when every connection is gone and the actor stopped. New upgrades get HTTP 503
   * meanwhile. The same as telling the actor `{type:'drain'}`.
   */
  drain(): Promise<void>;
  /** Stops listening and closes every connection at once (close code `node_closed`); the actor stops. */
  close(): Promise<void>;
  /** Resolves when the actor stopped (drained, closed, or stopped by its node), however that came about. */
  readonly stopped: Promise<void>;
  stats(): SocketServerStats;
  [Symbol.asyncDispose](): Promise<void>;
}

/** Frames up to this size are decoded only to echo their id in a refusal (rate limit). */
const PEEK_ID_MAX_BYTES = 4_096;

/** A promise and its settlers. */
function deferred<T>(): { promise: Promise<T>; resolve: (v: T) => void; reject: (e: unknown) => void } {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

class SocketServer implements ConnectionHost, SocketServerPort {
  readonly node: ActorNode;
  readonly options: ResolvedOptions;
  /** The socket-server actor this listener belongs to. */
  readonly ref: ActorRef;
  readonly #app: uWS.TemplatedApp;
  readonly #fenceClock = new FenceClock();
  readonly #quota: UserQuota;
  readonly #claims: SessionClaims;
  readonly #fallbacks: FallbackSender;
  readonly #plane: PushPlane;
  readonly #hub: Hub;
  readonly #teardown = new Teardown<Connection>(
    (conn) => this.#tearDown(conn),
    5,
    (err) => this.node.logger.error({ err }, 'tearing down a closed connection failed'),
  );
  readonly #epoch: StoreEpoch;
  readonly #recovery: RecoveryWatch;
  readonly #guard = new TicketReplayGuard();
  /** This process's run of the node: announced, put in tickets by the distributor, required at the upgrade. */
  readonly run = randomBytes(8).toString('hex');
  /** Mirrors the actor's state (written only by enter(), from the machine). */
  #phase: SocketServerPhase = 'starting';
  #listen: uWS.us_listen_socket | undefined;
  #port = 0;
  #serial = 0;
  /** Unique per connection on this node, also across restarts under the same node id (starts at the clock). */
  #admissions = Date.now();
  /** Admissions let in without the quota since the last warning about it, and when that was. */
  #uncountedAdmissions = 0;
  /**
   * Session starts (the server actor's `session.open`: the session actor, `welcome`, the fence claim)
   * in time slices. In a reconnect storm the quota owners' answers arrive by the thousand in one read of
   * the NATS socket, and each answer starts a session: done inline, one read held the loop for over a
   * second (P7: 1.0-1.4 s stalls, the accept queue overflowing meanwhile). Here at most 10 ms of a turn
   * goes to them, the rest waits for the next turns, so accepts, heartbeats and the watchdog still run.
   */
  readonly #starts = new TimeSlices<Connection>((conn) => this.#startSession(conn), {
    continuations: true,
    inlineMax: 64,
    onError: (err) => this.node.logger.error({ err }, 'starting a session failed'),
  });
  #uncountedLoggedAt = 0;
  readonly #admission: Admission;
  #drainSpread: Spread | undefined;
  #resyncSpread: Spread | undefined;
  #graceTimer: NodeJS.Timeout | undefined;
  #whenEmpty: (() => void) | undefined;
  readonly #listening = deferred<void>();
  readonly #stopped = deferred<void>();
  #shutdown: Promise<void> | undefined;
  readonly #stats = {
    opened: 0,
    refused: 0,
    replaced: 0,
    slowConsumers: 0,
    rateLimited: 0,
    policyClosed: 0,
    badFrames: 0,
    quotaRefused: 0,
    resyncs: 0,
    resyncFrames: 0,
    slowConsumerBufferedMax: 0,
  };

  constructor(node: ActorNode, options: ResolvedOptions, epoch: StoreEpoch) {
    this.node = node;
    this.#quota = new UserQuota(node, options.prefix, () => this.#countedConnections());
    this.options = options;
    this.#admission = new Admission(options.maxStartingSessions, node.logger);
    this.ref = socketServerRef(node.id);
    this.#epoch = epoch;
    this.#claims = new SessionClaims(node, options.prefix);
    this.#plane = new PushPlane(node.nats, options.prefix, node.logger, this.#claims, options.observer);
    this.#hub = new Hub((slot) => this.#plane.subscribeSlot(slot));
    // Welcomes go without their offer (it follows in a frame) while the node starts a burst of sessions.
    const deferAt = options.fallbackDeferStarting;
    this.#fallbacks = new FallbackSender(node, options.ticketSecret, options.fallbackTicketTtlMs, this.#hub, {
      busy: () => deferAt > 0 && this.#admission.starting >= deferAt,
      stormRate: options.stormRate,
    });
    this.#recovery = new RecoveryWatch(node, this.ref, { storageKinds: [options.storeKind, options.pushKind], stallMs: options.stallMs });
    // Nobody may wait on these: keep an unobserved rejection from being reported as unhandled.
    this.#listening.promise.catch(() => undefined);
    const l = options.limits;
    const app = options.tls ? uWS.SSLApp({ cert_file_name: options.tls.certFile, key_file_name: options.tls.keyFile }) : uWS.App();
    this.#app = app.ws<SocketData>('/ws', {
      // Frames up to twice the limit reach us and get `too_large`; beyond that uWS closes (1009).
      maxPayloadLength: l.maxFrameBytes * 2,
      idleTimeout: l.idleTimeoutSec,
      sendPingsAutomatically: true,
      // Our own check (Connection.send) closes at maxBackpressureBytes; this is the hard stop.
      maxBackpressure: l.maxBackpressureBytes * 2,
      closeOnBackpressureLimit: true,
      upgrade: (res, req, context) => this.#upgrade(res, req, context),
      open: (ws) => this.#open(ws),
      message: (ws, message, isBinary) => this.#message(ws.getUserData().c, message, isBinary),
      drain: (ws) => ws.getUserData().c.closeIfFlushed(),
      close: (ws, code) => this.#close(ws.getUserData().c, code),
    });
    this.#app.get('/healthz', (res) => this.#healthz(res));
    this.#app.any('/*', (res) => {
      res.cork(() =>
        res
          .writeStatus('404 Not Found')
          .writeHeader('content-type', 'application/json')
          .end(JSON.stringify({ error: { code: 'not_found', message: 'WebSocket endpoint is /ws?ticket=<ticket>' } })),
      );
    });
  }

  get port(): number {
    return this.#port;
  }

  get url(): string {
    if (this.options.publicUrl !== undefined) return this.options.publicUrl.href;
    return `${this.options.tls ? 'wss' : 'ws'}://${this.options.publicHost}:${this.#port}/ws`;
  }

  /** Port clients reach: the public URL's (its scheme's default when it names none), else the listener's. */
  #announcedPort(): number {
    return this.options.publicUrl?.port ?? this.#port;
  }

  get storeEpoch(): string | undefined {
    return this.#epoch.current;
  }

  get logger(): ActorNode['logger'] {
    return this.node.logger;
  }

  /** Resolves once the actor is listening; rejects when it stopped before (it could not listen). */
  get listening(): Promise<void> {
    return this.#listening.promise;
  }

  get stopped(): Promise<void> {
    return this.#stopped.promise;
  }

  // --- SocketServerPort (called by the socket-server actor's machine) -------------------------

  enter(phase: SocketServerPhase): void {
    this.#phase = phase;
    if (phase === 'listening') this.#listening.resolve();
    if (phase === 'stopped') this.#listening.reject(new SocketStartError(`socket server of node ${this.node.id} stopped before it listened (see the log for why)`));
  }

  async listen(): Promise<void> {
    const { host, port } = this.options;
    const socket = await new Promise<uWS.us_listen_socket | false>((resolve) => this.#app.listen(host, port, resolve));
    if (socket === false) throw new SocketStartError(`could not listen on ${host}:${port}: is the port taken? Use port 0 for a free one`);
    this.#listen = socket;
    this.#port = uWS.us_socket_local_port(socket as unknown as uWS.us_socket);
    this.#plane.start(this.#hub);
    this.#quota.start();
    this.#recovery.start();
    this.node.announce({
      meta: { ...socketMeta({ host: this.options.publicHost, port: this.#announcedPort(), url: this.url, capacity: this.options.capacity, run: this.run }), [QUOTA_BATCH_META]: 1 },
    });
    this.node.logger.info({ url: this.url, capacity: this.options.capacity }, 'socket server listening');
  }

  openSession(connection: unknown, server: ActorRef): void {
    if (!(connection instanceof Connection) || connection.host !== this) return;
    // Called from the server actor's transition: the session actor starts right after it, not inside it
    // (an actor started within another's action runs its initial assign there, which XState flags).
    queueMicrotask(() => this.#spawnSession(connection, server));
  }

  #spawnSession(conn: Connection, server: ActorRef): void {
    if (conn.closing) return;
    const id = `${conn.connectionId}.${(this.#serial++).toString(36)}`;
    this.node.spawn(SESSION_KIND, id, {}, conn).then(
      (ref) => {
        if (conn.closing) {
          this.node.stop(ref).catch(() => undefined);
          return;
        }
        // The server actor parents its sessions: it hears when one ends (sessionEnded).
        this.node.watch(server, ref);
        conn.attach(ref);
      },
      (err: unknown) => {
        this.node.logger.error({ err, connectionId: conn.connectionId }, 'could not start a session actor; closing the connection');
        conn.closeWith(CloseCode.serverError);
      },
    );
  }

  refuseSession(connection: unknown): void {
    if (connection instanceof Connection && connection.host === this) connection.closeWith(this.#phase === 'draining' ? CloseCode.draining : CloseCode.nodeClosed);
  }

  sessionEnded(ref: ActorRef, reason: TerminatedMessage['reason']): void {
    if (reason !== 'failed') return; // stopped: its socket closed, or it reached its final state and closes it
    const connectionId = ref.id.slice(0, ref.id.lastIndexOf('.'));
    let userKey: string;
    try {
      userKey = parseConnectionId(connectionId).userKey;
    } catch {
      return;
    }
    const conn = this.#hub.forUser(userKey).find((c) => c.ref?.id === ref.id);
    if (conn === undefined) return;
    this.node.logger.error({ connectionId, session: ref.id }, 'session actor failed; closing its connection');
    conn.closeWith(CloseCode.serverError);
  }

  resync(reason: string): void {
    const conns = this.#hub.snapshot();
    this.#stats.resyncs++;
    this.#resyncSpread?.cancel();
    const spreadMs = Math.min(this.options.resyncSpreadMs, conns.length * 2);
    this.node.logger.info({ reason, connections: conns.length, spreadMs }, 'pushes may have been missed: telling every client to resync');
    this.#resyncSpread = spreadOver(conns, spreadMs, (conn) => {
      if (conn.closing) return;
      this.#stats.resyncFrames++;
      conn.deliver({ type: 'push', bytes: RESYNC_FRAME_BYTES });
    });
  }

  revalidate(reason: string): void {
    this.node.logger.info({ reason, connections: this.#hub.size }, 'fence controls may have been missed: announcing every session again');
    this.#claims.reannounce(this.#hub);
  }

  async drain(spreadMs: number | undefined): Promise<void> {
    this.node.announce({ draining: true });
    const conns = this.#hub.snapshot();
    const empty = new Promise<void>((resolve) => {
      if (this.#hub.size === 0) resolve();
      else this.#whenEmpty = resolve;
    });
    const spread = spreadMs ?? this.options.drainSpreadMs;
    // Each client reconnects in its own slot of the spread; the jitter spreads it within the slot.
    const jitterMs = conns.length > 0 ? Math.min(1_000, spread / conns.length) : 0;
    this.node.logger.info({ connections: conns.length, spreadMs: spread }, 'draining: telling clients to move');
    this.#drainSpread = spreadOver(conns, spread, (conn) => conn.deliver({ type: 'drain', retryAfterMs: Math.floor(Math.random() * jitterMs) }));
    await this.#drainSpread.done;
    if (this.#phase !== 'draining') return;
    this.#graceTimer = setTimeout(() => {
      for (const c of this.#hub.snapshot()) c.closeWith(CloseCode.draining);
    }, this.options.drainGraceMs);
    await empty;
    clearTimeout(this.#graceTimer);
    // uWS writes the last close frames from its event loop: give it a moment before the caller may exit.
    await new Promise((resolve) => setTimeout(resolve, 200));
  }

  shutdown(): void {
    if (this.#shutdown !== undefined) return;
    this.#drainSpread?.cancel();
    this.#resyncSpread?.cancel();
    if (this.#graceTimer !== undefined) clearTimeout(this.#graceTimer);
    if (this.#listen !== undefined) uWS.us_listen_socket_close(this.#listen);
    this.#listen = undefined;
    for (const c of this.#hub.snapshot()) c.closeWith(CloseCode.nodeClosed);
    // Not inside this call: it may run within the server actor's own transition, and the teardown
    // stops session actors (as the close handler's teardown did from a microtask before).
    queueMicrotask(() => this.#teardown.flush());
    this.#whenEmpty?.();
    this.#recovery.stop();
    this.#plane.stop();
    this.#quota.stop();
    this.#hub.unsubscribeAll();
    this.#epoch.stop();
    this.#claims.stop();
    this.#fallbacks.stop();
    this.#shutdown = Promise.resolve().then(() => this.#stopped.resolve());
  }

  // --- uWS handlers -------------------------------------------------------------------------

  #healthz(res: uWS.HttpResponse): void {
    const ok = this.#phase === 'listening';
    const body = JSON.stringify({ status: ok ? 'ok' : this.#phase, node: this.node.id, connections: this.#hub.size });
    res.cork(() => res.writeStatus(ok ? '200 OK' : '503 Service Unavailable').writeHeader('content-type', 'application/json').end(body));
  }

  #upgrade(res: uWS.HttpResponse, req: uWS.HttpRequest, context: uWS.us_socket_context_t): void {
    const key = req.getHeader('sec-websocket-key');
    const protocol = req.getHeader('sec-websocket-protocol');
    const extensions = req.getHeader('sec-websocket-extensions');
    if (this.#phase !== 'listening') {
      this.#unavailable(res, `this socket server is ${this.#phase}: reconnect through the distributor`);
      return;
    }
    // Admission control, before the ticket's HMAC: a node already starting its limit of sessions sheds
    // the upgrade at the cost of one small answer, rather than queue work past the client's timeout.
    if (this.#admission.refuses()) {
      this.#unavailable(res, `this socket server is starting ${this.#admission.max} sessions already (its limit): reconnect through the distributor in a moment`);
      return;
    }
    const now = Date.now();
    const verdict = admitTicket(req.getQuery('ticket'), this.options.ticketSecret, this.node.id, this.#guard, now, {
      maxTtlMs: this.options.ticketTtlMs + TICKET_CLOCK_SKEW_MS,
      maxFallbackTtlMs: this.options.fallbackTicketTtlMs > 0 ? this.options.fallbackTicketTtlMs + TICKET_CLOCK_SKEW_MS : 0,
      run: this.run,
    });
    if (!verdict.ok) {
      this.#refuse(res, verdict.problem, verdict.message);
      return;
    }
    // Synchronous, inside the upgrade handler: a ticket is good for this run of this node only, so this
    // process's replay memory is the whole check (gateway/ticket.ts) and nothing is awaited.
    const { claims } = verdict;
    const conn = new Connection(this, claims.cid, claims.uid, claims.did, now, this.#fenceClock.next(now), claims.tex ?? 0);
    conn.avoid = parseAvoid(req.getQuery('exclude'));
    const data: SocketData = { c: conn };
    res.upgrade(data, key, protocol, extensions, context);
  }

  /** HTTP 401 with the refusal body (upgrade.ts). */
  #refuse(res: uWS.HttpResponse, problem: Parameters<typeof refusalBody>[0], message: string): void {
    this.#stats.refused++;
    const body = refusalBody(problem, message);
    res.cork(() => res.writeStatus('401 Unauthorized').writeHeader('content-type', 'application/json').end(body));
  }

  /** HTTP 503 with Retry-After: the client goes back to the distributor. */
  #unavailable(res: uWS.HttpResponse, message: string): void {
    this.#stats.refused++;
    const body = JSON.stringify({ error: { code: 'unavailable', message } });
    res.cork(() => res.writeStatus('503 Service Unavailable').writeHeader('retry-after', '1').writeHeader('content-type', 'application/json').end(body));
  }

  /**
   * The connection quota (quota.ts), counted across the cluster right after the upgrade and before the
   * session starts: over it, the client gets `{t:"error", code:"quota_exceeded"}` and close 4101
   * (terminal: reconnecting would be refused again until another device leaves).
   */
  #admit(conn: Connection): void {
    const { userKey, deviceKey } = parseConnectionId(conn.connectionId);
    const admission = ++this.#admissions;
    const max = this.options.maxConnectionsPerUser;
    this.#quota.admit(userKey, deviceKey, admission, max).then(
      (admitted) => {
        if (admitted) conn.markCounted(admission);
        if (conn.closing) {
          if (admitted) this.#uncount(conn);
          return;
        }
        if (admitted) {
          this.#starts.push(conn);
          return;
        }
        this.#stats.quotaRefused++;
        conn.send(errorFrame(ErrorCode.quotaExceeded, `this user already has ${max} live connections (the most allowed): close one on another device, then reconnect`));
        conn.closeWith(CloseCode.policy);
      },
      (err: unknown) => {
        // The count is a limit, not a gate of correctness: when it cannot be read, let the client in.
        // Logged at most every 5 s: an owner that just died fails every admission of its users at once.
        this.#uncountedAdmissions++;
        const now = Date.now();
        if (now - this.#uncountedLoggedAt >= 5_000) {
          this.node.logger.warn({ err, connectionId: conn.connectionId, admissions: this.#uncountedAdmissions }, 'could not ask the connection quota owner; admitting without the quota (is a socket node down?)');
          this.#uncountedLoggedAt = now;
          this.#uncountedAdmissions = 0;
        }
        this.#starts.push(conn);
      },
    );
  }

  #uncount(conn: Connection): void {
    const { userKey, deviceKey } = parseConnectionId(conn.connectionId);
    this.#quota.leave(userKey, deviceKey, conn.admission);
  }

  /** The connections counted in the quota now, for the owners' refreshes (quota.ts). */
  #countedConnections(): CountedConnection[] {
    const out: CountedConnection[] = [];
    for (const c of this.#hub.snapshot()) {
      if (!c.counted || c.closing) continue;
      const { userKey, deviceKey } = parseConnectionId(c.connectionId);
      out.push({ userKey, deviceKey, admission: c.admission });
    }
    return out;
  }

  #open(ws: uWS.WebSocket<SocketData>): void {
    const conn = ws.getUserData().c;
    conn.ws = ws;
    this.#admission.opened(conn);
    this.#stats.opened++;
    this.#hub.add(conn);
    if (this.options.maxConnectionsPerUser > 0) {
      this.#admit(conn);
      return;
    }
    this.#starts.push(conn);
  }

  /** The server actor decides: a session of its own while listening, a refusal otherwise. */
  #startSession(conn: Connection): void {
    if (!conn.closing) this.node.tell(this.ref, { type: 'session.open', connection: conn });
  }

  #message(conn: Connection, message: ArrayBuffer, isBinary: boolean): void {
    if (conn.closing) return;
    const limits = this.options.limits;
    if (admit(conn, limits, Date.now()) === Admit.refused) {
      this.#stats.rateLimited++;
      if (conn.rejected > limits.maxRejectedFrames) {
        this.#stats.policyClosed++;
        this.node.logger.warn({ connectionId: conn.connectionId, rejected: conn.rejected }, 'closing a connection that keeps breaking the rate limit');
        conn.closeWith(CloseCode.policy);
        return;
      }
      const id = isBinary && message.byteLength <= PEEK_ID_MAX_BYTES ? peekId(message) : undefined;
      conn.send(errorFrame(ErrorCode.rateLimited, `too many frames: at most ${limits.ratePerSec} per second (burst ${limits.burst})`, id));
      return;
    }
    if (!isBinary) {
      this.#stats.badFrames++;
      conn.send(errorFrame(ErrorCode.badFrame, 'text frames are not accepted: send binary MessagePack frames'));
      return;
    }
    if (message.byteLength > limits.maxFrameBytes) {
      conn.send(errorFrame(ErrorCode.tooLarge, `frame is ${message.byteLength} bytes; the limit is ${limits.maxFrameBytes}`, peekId(message)));
      return;
    }
    let frame: unknown;
    try {
      // A copy: uWS reuses `message` after this handler returns, and decoded binary values are views.
      frame = decode(new Uint8Array(message.slice(0)));
    } catch {
      this.#stats.badFrames++;
      conn.send(errorFrame(ErrorCode.badFrame, 'frame is not one valid MessagePack value'));
      return;
    }
    conn.deliver({ type: 'frame', frame });
  }

  /** uWS close handler: forget the socket now, tear the rest down in time slices (teardown.ts). */
  #close(conn: Connection, code: number): void {
    conn.detach();
    this.#admission.ended(conn);
    if (code === CloseCode.replaced) this.#stats.replaced++;
    this.#teardown.push(conn);
  }

  #tearDown(conn: Connection): void {
    this.#hub.remove(conn);
    const ref = conn.ref;
    if (ref !== undefined) {
      // We stop it ourselves, so the server actor need not hear it ended (no `actor.terminated`
      // through its machine per close).
      this.node.unwatch(this.ref, ref);
      this.node.stop(ref).catch(() => undefined);
    }
    if (conn.counted) this.#uncount(conn);
    if (this.#hub.size === 0) this.#whenEmpty?.();
  }

  // --- ConnectionHost -----------------------------------------------------------------------

  claim(conn: Connection): void {
    this.#claims.claim(conn);
  }

  fallbackFor(conn: Connection): FallbackOffer | undefined {
    return this.#fallbacks.welcomeOffer(conn);
  }

  sessionStarted(conn: Connection): void {
    this.#admission.ended(conn);
  }

  slowConsumer(conn: Connection): void {
    this.#stats.slowConsumers++;
    const buffered = conn.ws?.getBufferedAmount() ?? 0;
    if (buffered > this.#stats.slowConsumerBufferedMax) this.#stats.slowConsumerBufferedMax = buffered;
    this.node.logger.info({ connectionId: conn.connectionId, buffered }, 'disconnecting a client that does not read (slow consumer)');
    // A graceful close: the session ends now (close handler), the close frame waits behind the
    // backlog so a client that is only slow learns why (4001), and uWS drops the socket after its
    // closing timeout if the client never reads again. The backlog is capped by maxBackpressure.
    conn.closeWith(CloseCode.slowConsumer);
  }

  stats(): SocketServerStats {
    return {
      ...this.#stats,
      connections: this.#hub.size,
      starting: this.#admission.starting,
      shed: this.#admission.shed,
      users: this.#hub.users,
      pushSlots: this.#hub.slots,
      quotaOwned: this.#quota.owned,
      draining: this.#phase === 'draining',
      phase: this.#phase,
      fallbackFrames: this.#fallbacks.frames,
      fallbackPending: this.#fallbacks.pending,
      fallbackDeferred: this.#fallbacks.deferred,
      stormSpreadMs: this.#fallbacks.spreadMs,
      pushesDelivered: this.#plane.counters.delivered,
      badPushEnvelopes: this.#plane.counters.badEnvelopes,
    };
  }
}

/** uWebSockets.js only logs a bad certificate and then fails to listen: say which file is wrong first. */
async function checkTlsFiles(tls: TlsFiles): Promise<void> {
  for (const [what, file] of [['certificate', tls.certFile], ['key', tls.keyFile]] as const) {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      throw new SocketConfigError(`cannot read the TLS ${what} ${file}: ${(err as Error).message}`, { cause: err });
    }
    if (!text.includes('-----BEGIN ')) throw new SocketConfigError(`the TLS ${what} ${file} is not PEM (no -----BEGIN line)`);
  }
}

/** The `id` of a small binary frame, read without keeping it. */
function peekId(message: ArrayBuffer): ReturnType<typeof frameId> {
  try {
    return frameId(decode(new Uint8Array(message)));
  } catch {
    return undefined;
  }
}

/**
 * Starts a socket server on `node`: spawns the node's `socket-server` actor (actors/socket-server; its
 * id is the node id) with this listener, and resolves once it listens and is announced (meta
 * socketHost, socketPort, socketUrl, capacity) so the distributor sends clients here. The node must
 * have role `socket` and host the `socket-server` and `session` kinds (socketServerKind(),
 * sessionKind()). Rejects when the actor could not listen (it has stopped then).
 */
export async function startSocketServer(node: ActorNode, options: SocketServerOptions): Promise<SocketServerHandle> {
  const resolved = resolveOptions(options);
  if (resolved.tls !== undefined) await checkTlsFiles(resolved.tls);
  if (!node.roles.includes(SOCKET_ROLE)) {
    throw new SocketConfigError(`node ${node.id} lacks role "${SOCKET_ROLE}": start it with roles including "${SOCKET_ROLE}" so the distributor finds this server`);
  }
  const self = node.members().find((m) => m.nodeId === node.id);
  for (const [kind, factory] of [[SESSION_KIND, 'sessionKind() (actors/session)'], [SOCKET_SERVER_KIND, 'socketServerKind() (actors/socket-server)']] as const) {
    if (self !== undefined && !self.kinds.includes(kind)) throw new SocketConfigError(`node ${node.id} does not host the "${kind}" kind: pass ${factory} in its kinds`);
  }
  const epoch = await StoreEpoch.start(node.nats, resolved.prefix, node.logger, resolved.storePartitions);
  const server = new SocketServer(node, resolved, epoch);
  try {
    await node.spawn(SOCKET_SERVER_KIND, node.id, { node: node.id }, server);
    await server.listening;
  } catch (err) {
    server.shutdown();
    throw err;
  }
  const ref = server.ref;
  const tellAndWait = (type: 'drain' | 'close'): Promise<void> => {
    node.tell(ref, { type });
    return server.stopped;
  };
  return {
    ref,
    get port() {
      return server.port;
    },
    get url() {
      return server.url;
    },
    run: server.run,
    stopped: server.stopped,
    drain: () => tellAndWait('drain'),
    close: () => tellAndWait('close'),
    stats: () => server.stats(),
    [Symbol.asyncDispose]: () => tellAndWait('close'),
  };
}
