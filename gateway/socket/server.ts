/**
 * The socket server: a uWebSockets.js listener whose connections each get a session actor on this node.
 *
 * The uWS handlers are one-liners into SocketServer; the protocol lives in actors/session/. What
 * happens here: the ticket check at the upgrade (HTTP 401 on refusal, 503 while draining), framing
 * checks (binary, size, MessagePack, rate), backpressure and drain. Beside it: claims.ts (the session
 * fence), push-plane.ts and hub.ts (pushes to local sessions), connection.ts (one connection),
 * store-epoch.ts (the storage epoch sent in `welcome`).
 *
 * HTTP answers besides the upgrade: `GET /healthz` -> 200 {"status":"ok", node, connections} (503
 * {"status":"draining"} while draining); anything else -> 404.
 */
import { readFile } from 'node:fs/promises';
import * as uWS from 'uWebSockets.js';
import { CloseCode, ErrorCode, decode, errorFrame } from '../../protocol/mod.js';
import { socketMeta } from '../../protocol/cluster/mod.js';
import { SESSION_KIND, frameId } from '../../actors/session/mod.js';
import type { ActorNode } from '../../runtime/mod.js';
import { TicketError, TicketReplayGuard } from '../ticket.js';
import { Connection, type ConnectionHost, type SocketData } from './connection.js';
import { spreadOver, type Spread } from './drain.js';
import { SocketConfigError, SocketStartError } from './errors.js';
import { SessionFence } from './fence.js';
import { SessionClaims } from './claims.js';
import { Hub } from './hub.js';
import { resolveOptions, type ResolvedOptions, type SocketServerOptions, type TlsFiles } from './options.js';
import { PushPlane } from './push-plane.js';
import { admit, Admit } from './rate-limit.js';
import { StoreEpoch } from './store-epoch.js';
import { admitTicket, refusalBody } from './upgrade.js';
import { TICKET_CLOCK_SKEW_MS, TicketStoreError, UsedTickets } from './used-tickets.js';

/** Counters and gauges of one socket server. */
export interface SocketServerStats {
  readonly connections: number;
  readonly users: number;
  readonly draining: boolean;
  readonly opened: number;
  /** Upgrades refused (bad ticket or draining). */
  readonly refused: number;
  /** Sessions closed because a newer one took their connection id. */
  readonly replaced: number;
  readonly slowConsumers: number;
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
  readonly port: number;
  /**
   * The URL the distributor hands out (clients append `?ticket=`): the publicUrl option when given,
   * else `ws://publicHost:port/ws`, or `wss://` when this server serves TLS.
   */
  readonly url: string;
  /**
   * Announces `draining` (the distributor stops sending clients here), sends every client
   * {t:"drain", retryAfterMs} at moments spread uniformly over drainSpreadMs, and closes each with
   * close code `draining` once the frame and its in-flight answers are flushed (at most drainGraceMs
   * later). Resolves when every connection is gone. New upgrades get HTTP 503 meanwhile.
   */
  drain(): Promise<void>;
  /** Stops listening and closes every connection at once (close code `node_closed`). */
  close(): Promise<void>;
  stats(): SocketServerStats;
  [Symbol.asyncDispose](): Promise<void>;
}

/** Frames up to this size are decoded only to echo their id in a refusal (rate limit). */
const PEEK_ID_MAX_BYTES = 4_096;

class SocketServer implements ConnectionHost {
  readonly node: ActorNode;
  readonly options: ResolvedOptions;
  readonly #app: uWS.TemplatedApp;
  readonly #claims: SessionClaims;
  readonly #plane: PushPlane;
  readonly #hub: Hub;
  readonly #epoch: StoreEpoch;
  readonly #guard = new TicketReplayGuard();
  readonly #usedTickets: UsedTickets;
  #listen: uWS.us_listen_socket | undefined;
  #port = 0;
  #serial = 0;
  #draining: Promise<void> | undefined;
  #spread: Spread | undefined;
  #graceTimer: NodeJS.Timeout | undefined;
  #closed = false;
  #whenEmpty: (() => void) | undefined;
  readonly #stats = { opened: 0, refused: 0, replaced: 0, slowConsumers: 0, rateLimited: 0, policyClosed: 0, badFrames: 0 };

  constructor(node: ActorNode, options: ResolvedOptions, fence: SessionFence, epoch: StoreEpoch, usedTickets: UsedTickets) {
    this.node = node;
    this.options = options;
    this.#usedTickets = usedTickets;
    this.#epoch = epoch;
    this.#claims = new SessionClaims(fence, node, options.prefix);
    this.#plane = new PushPlane(node.nats, options.prefix, node.logger, options.observer);
    this.#hub = new Hub((userKey) => this.#plane.subscribeUser(userKey));
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
    this.#app.get('/healthz', (res) => {
      const body = JSON.stringify({ status: this.#draining ? 'draining' : 'ok', node: node.id, connections: this.#hub.size });
      res.cork(() => res.writeStatus(this.#draining ? '503 Service Unavailable' : '200 OK').writeHeader('content-type', 'application/json').end(body));
    });
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

  async listen(): Promise<void> {
    const { host, port } = this.options;
    const socket = await new Promise<uWS.us_listen_socket | false>((resolve) => this.#app.listen(host, port, resolve));
    if (socket === false) throw new SocketStartError(`could not listen on ${host}:${port}: is the port taken? Use port 0 for a free one`);
    this.#listen = socket;
    this.#port = uWS.us_socket_local_port(socket as unknown as uWS.us_socket);
    this.#plane.start(this.#hub);
    this.#claims.watchReconnects(this.#hub);
    this.node.announce({
      meta: socketMeta({ host: this.options.publicHost, port: this.#announcedPort(), url: this.url, capacity: this.options.capacity }),
    });
  }

  // --- uWS handlers -------------------------------------------------------------------------

  #upgrade(res: uWS.HttpResponse, req: uWS.HttpRequest, context: uWS.us_socket_context_t): void {
    const key = req.getHeader('sec-websocket-key');
    const protocol = req.getHeader('sec-websocket-protocol');
    const extensions = req.getHeader('sec-websocket-extensions');
    if (this.#draining !== undefined || this.#closed) {
      this.#unavailable(res, 'this socket server is draining: reconnect through the distributor');
      return;
    }
    const now = Date.now();
    const verdict = admitTicket(req.getQuery('ticket'), this.options.ticketSecret, this.node.id, this.#guard, now, this.options.ticketTtlMs + TICKET_CLOCK_SKEW_MS);
    if (!verdict.ok) {
      this.#refuse(res, verdict.problem, verdict.message);
      return;
    }
    // Answered later (after the cluster-wide replay check): uWS needs onAborted.
    let aborted = false;
    res.onAborted(() => (aborted = true));
    const { claims } = verdict;
    this.#usedTickets.use(claims).then(
      () => {
        if (aborted) return;
        if (this.#draining !== undefined || this.#closed) {
          this.#unavailable(res, 'this socket server is draining: reconnect through the distributor');
          return;
        }
        const data: SocketData = { c: new Connection(this, claims.cid, claims.uid, claims.did, Date.now()) };
        // Not corked, unlike uWS's async-upgrade example: with this uWebSockets.js build, res.upgrade
        // inside res.cork after an await cut the new WebSocket (close 1006 from inside the upgrade) in
        // about half the runs of test/socket/upgrade.test.ts, and never uncorked (0 of 8). The cost:
        // uWS prints a warning about a write outside a cork on stderr for each upgrade (known issue,
        // docs/security.md "Tickets"; to fix by finding why the corked upgrade is cut).
        res.upgrade(data, key, protocol, extensions, context);
      },
      (err: unknown) => {
        if (err instanceof TicketStoreError) this.#guard.forget(claims.jti);
        if (aborted) return;
        if (err instanceof TicketError) {
          this.#refuse(res, err.problem, err.message);
        } else {
          this.node.logger.warn({ err }, 'could not record a ticket as used; refusing the upgrade');
          this.#unavailable(res, 'cannot check the ticket against replays right now: retry through the distributor');
        }
      },
    );
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

  #open(ws: uWS.WebSocket<SocketData>): void {
    const conn = ws.getUserData().c;
    conn.ws = ws;
    this.#stats.opened++;
    this.#hub.add(conn);
    const id = `${conn.connectionId}.${(this.#serial++).toString(36)}`;
    this.node.spawn(SESSION_KIND, id, {}, conn).then(
      (ref) => {
        if (conn.closing) this.node.stop(ref).catch(() => undefined);
        else conn.attach(ref);
      },
      (err: unknown) => {
        this.node.logger.error({ err, connectionId: conn.connectionId }, 'could not start a session actor; closing the connection');
        conn.closeWith(CloseCode.serverError);
      },
    );
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

  #close(conn: Connection, code: number): void {
    conn.detach();
    this.#hub.remove(conn);
    const ref = conn.ref;
    // Not from inside this handler: it may run within the session's own transition (it closed the
    // socket); a session that reached its final state is stopped by the runtime already.
    if (ref !== undefined) queueMicrotask(() => this.node.stop(ref).catch(() => undefined));
    if (conn.epoch > 0) this.#claims.release(conn.connectionId, conn.epoch);
    if (code === CloseCode.replaced) this.#stats.replaced++;
    if (this.#hub.size === 0) this.#whenEmpty?.();
  }

  // --- ConnectionHost -----------------------------------------------------------------------

  claim(conn: Connection): void {
    this.#claims.claim(conn);
  }

  slowConsumer(conn: Connection): void {
    this.#stats.slowConsumers++;
    this.node.logger.info({ connectionId: conn.connectionId, buffered: conn.ws?.getBufferedAmount() }, 'disconnecting a client that does not read (slow consumer)');
    // A graceful close: the session ends now (close handler), the close frame waits behind the
    // backlog so a client that is only slow learns why (4001), and uWS drops the socket after its
    // closing timeout if the client never reads again. The backlog is capped by maxBackpressure.
    conn.closeWith(CloseCode.slowConsumer);
  }

  // --- lifecycle ----------------------------------------------------------------------------

  drain(): Promise<void> {
    this.#draining ??= this.#drain();
    return this.#draining;
  }

  async #drain(): Promise<void> {
    this.node.announce({ draining: true });
    const conns = this.#hub.snapshot();
    const empty = new Promise<void>((resolve) => {
      if (this.#hub.size === 0) resolve();
      else this.#whenEmpty = resolve;
    });
    const spreadMs = this.options.drainSpreadMs;
    // Each client reconnects in its own slot of the spread; the jitter spreads it within the slot.
    const jitterMs = conns.length > 0 ? Math.min(1_000, spreadMs / conns.length) : 0;
    this.node.logger.info({ connections: conns.length, spreadMs }, 'draining: telling clients to move');
    this.#spread = spreadOver(conns, spreadMs, (conn) => conn.deliver({ type: 'drain', retryAfterMs: Math.floor(Math.random() * jitterMs) }));
    await this.#spread.done;
    if (this.#closed) return;
    this.#graceTimer = setTimeout(() => {
      for (const c of this.#hub.snapshot()) c.closeWith(CloseCode.draining);
    }, this.options.drainGraceMs);
    await empty;
    clearTimeout(this.#graceTimer);
    // uWS writes the last close frames from its event loop: give it a moment before the caller may exit.
    await new Promise((resolve) => setTimeout(resolve, 200));
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#spread?.cancel();
    if (this.#graceTimer !== undefined) clearTimeout(this.#graceTimer);
    if (this.#listen !== undefined) uWS.us_listen_socket_close(this.#listen);
    this.#listen = undefined;
    for (const c of this.#hub.snapshot()) c.closeWith(CloseCode.nodeClosed);
    this.#whenEmpty?.();
    this.#plane.stop();
    this.#hub.unsubscribeAll();
    this.#epoch.stop();
    await this.#claims.stop();
  }

  stats(): SocketServerStats {
    return {
      ...this.#stats,
      connections: this.#hub.size,
      users: this.#hub.users,
      draining: this.#draining !== undefined,
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
 * Starts a socket server on `node` and announces it (meta socketHost, socketPort, socketUrl,
 * capacity) so the distributor can send clients here. The node must have role `socket` and host the
 * `session` kind (actors/session sessionKind()).
 */
export async function startSocketServer(node: ActorNode, options: SocketServerOptions): Promise<SocketServerHandle> {
  const resolved = resolveOptions(options);
  if (resolved.tls !== undefined) await checkTlsFiles(resolved.tls);
  if (!node.roles.includes('socket')) {
    throw new SocketConfigError(`node ${node.id} lacks role "socket": start it with roles including "socket" so the distributor finds this server`);
  }
  const self = node.members().find((m) => m.nodeId === node.id);
  if (self !== undefined && !self.kinds.includes(SESSION_KIND)) {
    throw new SocketConfigError(`node ${node.id} does not host the "${SESSION_KIND}" kind: pass sessionKind() (actors/session) in its kinds`);
  }
  const fence = await SessionFence.open(node.nats, resolved.prefix, resolved.replicas);
  const usedTickets = await UsedTickets.open(node.nats, resolved.prefix, resolved.replicas, resolved.ticketTtlMs, node.id);
  const epoch = await StoreEpoch.start(node.nats, resolved.prefix, node.logger);
  const server = new SocketServer(node, resolved, fence, epoch, usedTickets);
  try {
    await server.listen();
  } catch (err) {
    epoch.stop();
    throw err;
  }
  node.logger.info({ url: server.url, capacity: resolved.capacity }, 'socket server listening');
  return {
    get port() {
      return server.port;
    },
    get url() {
      return server.url;
    },
    drain: () => server.drain(),
    close: () => server.close(),
    stats: () => server.stats(),
    [Symbol.asyncDispose]: () => server.close(),
  };
}
