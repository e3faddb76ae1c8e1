/**
 * The distributor's HTTP server (uWebSockets.js): routes, bound to an Allocator.
 *
 * Routes bind to one-line handlers; each handler copies what it needs from the request
 * synchronously (uWS requests live only that long), then answers through an Exchange, which tracks
 * aborts and corks the write. No handler throws: every failure becomes an error answer, and an
 * unexpected one is logged and answered 500.
 */
import * as uWS from 'uWebSockets.js';
import type { Logger } from 'pino';
import { randomBytes } from 'node:crypto';
import { DEFAULT_MAX_LIFETIME_SEC, signDevToken, TokenVerifier, type JwtOptions } from './auth.js';
import type { Allocator } from './allocator.js';
import { checkAddress, handleConnect, type ConnectDeps } from './connect.js';
import type { HttpErrorCode } from '../../protocol/mod.js';
import { BodyTimeoutError, BodyTooLargeError, DistributorStartError, HttpError } from './errors.js';
import { CORS_HEADERS, Exchange, PREFLIGHT_HEADERS, RequestAbortedError, type BodyLimits } from './http.js';
import { RateLimiter } from './rate-limit.js';
import { MAX_BODY_BYTES, parseDevTokenBody } from './requests.js';
import { StaticFiles } from './static-files.js';
import { childApps } from './child-apps.js';

/** Options of startDistributor. */
export interface DistributorOptions {
  /** Listen address (for example 0.0.0.0 or 127.0.0.1). */
  host: string;
  /** Listen port; 0 picks a free one. */
  port: number;
  /** Secret shared with the socket servers, to sign tickets. */
  ticketSecret: string;
  /** Ticket lifetime (default 30_000 ms). */
  ticketTtlMs?: number;
  /** How user tokens are verified: keys, issuer, audience, maximum lifetime. */
  jwt: JwtOptions;
  /**
   * Dev mode: POST /v1/dev/token hands out a token for any user id, signed with `devTokenSecret`
   * (issuer `syncmesh-dev`), and such tokens are accepted. Never in production. Refused on a
   * non-loopback listen address unless `devUnsafePublic`.
   */
  devMode: boolean;
  /** Dev mode: the key dev tokens are signed with (default: random per process). Never the user-token secret. */
  devTokenSecret?: string;
  /** Dev mode: allow it on a non-loopback address anyway (anyone who reaches the port can act as any user). */
  devUnsafePublic?: boolean;
  /** Directory served at `/` (the browser client). */
  staticDir?: string;
  /**
   * Token buckets (requests per second, burst of one second's worth). Defaults: 20 per user, 2_000
   * per address; 0 turns a limit off.
   */
  rateLimit?: { perUserPerSec?: number; perIpPerSec?: number };
  /** Deadline for a request body to arrive in full (default 10_000 ms); past it: 408 and close. */
  bodyTimeoutMs?: number;
  /** Serve https directly: PEM certificate (chain) and key files (uWebSockets.js SSLApp). */
  tls?: { certFile: string; keyFile: string };
  /** Told about every answered API request (metrics). */
  observer?: DistributorObserver;
  /**
   * Threads serving the HTTP API in this process (default 1): the main thread, which also runs the
   * node, and `threads - 1` worker threads listening on the same port (SO_REUSEPORT: the kernel
   * spreads connections over them). Allocation is a pure function of the table the actor publishes,
   * so every thread answers alike. The rate limits are per thread, each `1/threads` of the limit.
   */
  threads?: number;
}

/** An API request of the distributor, for its observer. */
export type DistributorRoute = 'connect' | 'dev_token';

/** What the distributor reports. Called on the hot path: keep it cheap, never throw. */
export interface DistributorObserver {
  /** A request was answered: `ok` (for connect: a socket server was allocated) or the error code answered. */
  answered(route: DistributorRoute, outcome: 'ok' | HttpErrorCode): void;
}

/** A running distributor HTTP server. */
export interface DistributorServer {
  readonly port: number;
  /** `http://HOST:PORT`, `https://` with tls (127.0.0.1 when listening on every address). */
  readonly url: string;
  /** HTTP threads answering on the port (DistributorOptions.threads; 1 when absent). */
  readonly threads?: number;
  /** Stops listening and closes open connections. Idempotent. */
  close(): Promise<void>;
}

/** Whether the server can answer connects, for GET /healthz. */
export type HealthState = 'starting' | 'ready' | 'closing';

export interface AppDeps {
  readonly nodeId: string;
  readonly logger: Logger;
  readonly allocator: Allocator;
  readonly health: () => HealthState;
  readonly now?: () => number;
  /** Which of the process's HTTP threads this is (0: the main thread), told in GET /healthz. */
  readonly thread?: number;
}

export const DEFAULT_TICKET_TTL_MS = 30_000;
/** Deadline for a request body to arrive in full (slow or stalled clients get 408). */
export const DEFAULT_BODY_TIMEOUT_MS = 10_000;
/** An over-size body up to this size is read and dropped before the 413 (see Exchange.readBody). */
export const DRAIN_BODY_BYTES = 16 * 1024 * 1024;
export const DEFAULT_PER_USER_PER_SEC = 20;
export const DEFAULT_PER_IP_PER_SEC = 2_000;
const UNAVAILABLE_RETRY_AFTER_SEC = 2;
const NOT_FOUND = new HttpError('not_found', 'no such endpoint; see docs/protocol.md for the API');

function limiter(perSec: number | undefined, fallback: number, now: () => number): RateLimiter | undefined {
  const rate = perSec ?? fallback;
  return rate > 0 ? new RateLimiter({ ratePerSec: rate, now }) : undefined;
}

/** Whether `host` only accepts connections from this machine. */
export function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || host === '::1' || host === '[::1]' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

function validate(options: DistributorOptions): void {
  if (!options.ticketSecret) throw new DistributorStartError('ticketSecret is empty; set the secret shared with the socket servers (SYNCMESH_TICKET_SECRET)');
  if (options.devMode && !isLoopbackHost(options.host) && options.devUnsafePublic !== true) {
    throw new DistributorStartError(
      `dev mode is refused on ${options.host}: anyone who reaches it could get a token for any user. ` +
        'Listen on 127.0.0.1, turn dev mode off (--no-dev), or pass --dev-unsafe-public if you really mean it',
    );
  }
  if (options.devMode && options.devTokenSecret !== undefined && options.devTokenSecret === options.jwt.secret) {
    throw new DistributorStartError('the dev token secret equals the user-token secret; dev tokens must be signed with a key of their own (SYNCMESH_DEV_JWT_SECRET)');
  }
  const ttl = options.ticketTtlMs ?? DEFAULT_TICKET_TTL_MS;
  if (!(ttl > 0)) throw new DistributorStartError(`ticketTtlMs must be > 0 (got ${ttl})`);
}

/** HS256 keys shorter than the hash output are guessable offline from any token. */
const MIN_JWT_SECRET_BYTES = 32;

/** A listening distributor app that hands its connections to other threads' apps (threads.ts). */
export interface ListeningApp extends DistributorServer {
  /** Hands connections to the app of `descriptor` too (its thread started again). */
  addChild(descriptor: number): void;
  /** Stops handing connections to the app of `descriptor` (its thread is gone). */
  removeChild(descriptor: number): void;
}

/**
 * Starts the HTTP server. Resolves once it listens. `children`: descriptors of the same app built in
 * other threads (buildDistributorApp, then getDescriptor()); when given, this app accepts and hands
 * each connection to one of them in turn, and they answer.
 */
export async function listenDistributorApp(deps: AppDeps, options: DistributorOptions, children: readonly number[] = []): Promise<ListeningApp> {
  const app = buildDistributorApp(deps, options);
  const log = deps.logger;
  const listenSocket = await new Promise<uWS.us_listen_socket>((resolve, reject) => {
    app.listen(options.host, options.port, (socket) => {
      if (socket === false) {
        reject(new DistributorStartError(`cannot listen on ${options.host}:${options.port}; is the port taken? pick another with --http-port, or 0 for a free one`));
      } else {
        resolve(socket);
      }
    });
  });
  const handed = new Set(children);
  let family = handed.size > 0 ? childApps(app) : undefined;
  for (const d of handed) family!.addChildAppDescriptor(d);
  const port = uWS.us_socket_local_port(listenSocket as unknown as uWS.us_socket);
  const shownHost = options.host === '0.0.0.0' || options.host === '::' || options.host === '' ? '127.0.0.1' : options.host;
  const url = `${options.tls ? 'https' : 'http'}://${shownHost.includes(':') ? `[${shownHost}]` : shownHost}:${port}`;
  log.info({ url, devMode: options.devMode, staticDir: options.staticDir, threads: Math.max(1, handed.size) }, 'distributor listening');

  let closed = false;
  return {
    port,
    url,
    threads: Math.max(1, handed.size),
    addChild: (d) => {
      if (closed || handed.has(d)) return;
      handed.add(d);
      (family ??= childApps(app)).addChildAppDescriptor(d);
    },
    removeChild: (d) => {
      if (handed.delete(d)) family?.removeChildAppDescriptor(d);
    },
    close: async () => {
      if (closed) return;
      closed = true;
      for (const d of handed) family?.removeChildAppDescriptor(d);
      handed.clear();
      uWS.us_listen_socket_close(listenSocket);
      // Also ends keep-alive connections, so the process can exit.
      app.close();
    },
  };
}

/** The distributor's uWebSockets.js app with its routes, not listening (threads.ts builds one per thread). */
export function buildDistributorApp(deps: AppDeps, options: DistributorOptions): uWS.TemplatedApp {
  validate(options);
  const now = deps.now ?? Date.now;
  const log = deps.logger;
  if (options.jwt.secret !== undefined && Buffer.byteLength(options.jwt.secret, 'utf8') < MIN_JWT_SECRET_BYTES) {
    log.warn(`jwt.secret is shorter than ${MIN_JWT_SECRET_BYTES} bytes: tokens can be forged by guessing it; use a random secret of 32 bytes or more`);
  }
  const devSecret = options.devMode ? (options.devTokenSecret ?? randomBytes(32).toString('base64url')) : undefined;
  const verifier = new TokenVerifier(options.jwt, { now, ...(devSecret !== undefined && { devSecret }) });
  const devLifetimeSec = Math.min(DEFAULT_MAX_LIFETIME_SEC, options.jwt.maxLifetimeSec ?? DEFAULT_MAX_LIFETIME_SEC);
  if (options.devMode) {
    log.warn({ host: options.host }, 'DEV MODE: POST /v1/dev/token gives a token for any user id; never use it in production');
  }
  const perAddress = limiter(options.rateLimit?.perIpPerSec, DEFAULT_PER_IP_PER_SEC, now);
  const connectDeps: ConnectDeps = {
    verifier,
    allocator: deps.allocator,
    ticketSecret: options.ticketSecret,
    ticketTtlMs: options.ticketTtlMs ?? DEFAULT_TICKET_TTL_MS,
    perUser: limiter(options.rateLimit?.perUserPerSec, DEFAULT_PER_USER_PER_SEC, now),
    perAddress,
    unavailableRetryAfterSec: UNAVAILABLE_RETRY_AFTER_SEC,
    now,
  };
  const staticFiles = options.staticDir !== undefined ? new StaticFiles(options.staticDir) : undefined;

  const observer = options.observer;
  /** Turns any failure into an answer; never throws. `route`: an API request, told to the observer. */
  const fail = (ex: Exchange, error: unknown, headers: Readonly<Record<string, string>>, closeConnection = false, route?: DistributorRoute): void => {
    if (error instanceof RequestAbortedError) return;
    if (error instanceof HttpError) {
      if (route !== undefined) observer?.answered(route, error.code);
      ex.error(error, headers, closeConnection);
      return;
    }
    log.error({ err: error }, 'distributor request failed');
    if (route !== undefined) observer?.answered(route, 'internal');
    ex.error(new HttpError('internal', 'internal error; retry later, and report it if it persists'), headers, closeConnection);
  };

  const bodyLimits: BodyLimits = {
    maxBytes: MAX_BODY_BYTES,
    drainBytes: DRAIN_BODY_BYTES,
    timeoutMs: options.bodyTimeoutMs ?? DEFAULT_BODY_TIMEOUT_MS,
  };
  /** Reads a capped body (see Exchange.readBody: an over-size body is read to its end, then refused). */
  const body = (ex: Exchange, req: uWS.HttpRequest): Promise<Buffer> => {
    const header = req.getHeader('content-length');
    return ex.readBody(bodyLimits, header === '' ? undefined : Number(header));
  };

  /** Whether the connection must close after answering `error`: part of the request is still unread. */
  const closeAfter = (error: unknown): boolean =>
    (error instanceof BodyTooLargeError && !error.drained) || error instanceof BodyTimeoutError;

  /**
   * Answers `error` once the request body (if any) is read: answering first and closing would reset
   * the connection under a client still sending, and leaving the body unread would make it the next
   * request. Must be called synchronously in the handler.
   */
  const refuseAfterBody = (ex: Exchange, req: uWS.HttpRequest, error: HttpError, headers: Readonly<Record<string, string>>): void => {
    body(ex, req).then(
      () => ex.error(error, headers),
      (bodyError: unknown) => {
        if (!(bodyError instanceof RequestAbortedError)) ex.error(error, headers, closeAfter(bodyError));
      },
    );
  };

  const connect = (res: uWS.HttpResponse, req: uWS.HttpRequest): void => {
    const ex = new Exchange(res);
    const authorization = req.getHeader('authorization');
    // Only read (and decoded) when an address limit is on.
    const address = perAddress === undefined ? '' : ex.remoteAddress();
    body(ex, req)
      .then((buf) => handleConnect(connectDeps, { authorization, address, body: buf }))
      .then((answer) => {
        observer?.answered('connect', 'ok');
        ex.json(200, answer, CORS_HEADERS);
      })
      .catch((error: unknown) => fail(ex, error, CORS_HEADERS, closeAfter(error), 'connect'));
  };

  const devToken = (res: uWS.HttpResponse, req: uWS.HttpRequest): void => {
    const ex = new Exchange(res);
    const address = perAddress === undefined ? '' : ex.remoteAddress();
    body(ex, req)
      .then(async (buf) => {
        checkAddress(perAddress, address);
        const { userId } = parseDevTokenBody(buf);
        ex.json(200, { token: await signDevToken(devSecret!, userId, now(), devLifetimeSec) }, CORS_HEADERS);
        observer?.answered('dev_token', 'ok');
      })
      .catch((error: unknown) => fail(ex, error, CORS_HEADERS, closeAfter(error), 'dev_token'));
  };

  const healthz = (res: uWS.HttpResponse): void => {
    const ex = new Exchange(res);
    const state = deps.health();
    if (state !== 'ready') {
      ex.json(503, { status: state, node: deps.nodeId }, { 'Retry-After': '1' });
      return;
    }
    Promise.resolve(deps.allocator.socketServers())
      .then((n) => {
        if (n > 0) ex.json(200, { status: 'ok', node: deps.nodeId, socketServers: n, thread: deps.thread ?? 0 });
        else ex.json(503, { status: 'no_socket_servers', node: deps.nodeId, socketServers: 0 }, { 'Retry-After': String(UNAVAILABLE_RETRY_AFTER_SEC) });
      })
      .catch((error: unknown) => fail(ex, error, {}));
  };

  /** Everything else: a file of the static directory for GET, else not found. */
  const fallback = (res: uWS.HttpResponse, req: uWS.HttpRequest): void => {
    const ex = new Exchange(res);
    if (staticFiles === undefined || req.getMethod() !== 'get') {
      refuseAfterBody(ex, req, NOT_FOUND, {});
      return;
    }
    staticFiles
      .lookup(req.getUrl())
      .then((file) => {
        if (file === undefined) ex.error(NOT_FOUND);
        else ex.send(200, file.body, { 'Content-Type': file.contentType, 'Cache-Control': 'no-cache', 'X-Content-Type-Options': 'nosniff', ...file.headers });
      })
      .catch((error: unknown) => fail(ex, error, {}));
  };

  const wrongMethod = (allow: string, headers: Readonly<Record<string, string>>) => (res: uWS.HttpResponse, req: uWS.HttpRequest): void => {
    refuseAfterBody(new Exchange(res), req, new HttpError('method_not_allowed', `use ${allow} for this endpoint`, { headers: { Allow: allow } }), headers);
  };
  const notFound = (headers: Readonly<Record<string, string>>) => (res: uWS.HttpResponse, req: uWS.HttpRequest): void => {
    refuseAfterBody(new Exchange(res), req, NOT_FOUND, headers);
  };
  const preflight = (res: uWS.HttpResponse): void => {
    new Exchange(res).send(204, '', PREFLIGHT_HEADERS);
  };

  /** Last line of defence: a synchronous throw must not escape into uWS (it would take the process down). */
  const safe = (handler: (res: uWS.HttpResponse, req: uWS.HttpRequest) => void) => (res: uWS.HttpResponse, req: uWS.HttpRequest): void => {
    try {
      handler(res, req);
    } catch (error) {
      log.error({ err: error }, 'distributor handler threw');
      try {
        res.cork(() => res.writeStatus('500 Internal Server Error').end('{"error":{"code":"internal","message":"internal error; retry later"}}', true));
      } catch {
        // The response was already answered or aborted: nothing left to tell the client.
      }
    }
  };

  const app = options.tls ? uWS.SSLApp({ cert_file_name: options.tls.certFile, key_file_name: options.tls.keyFile }) : uWS.App();
  app.get('/healthz', safe(healthz));
  app.any('/healthz', safe(wrongMethod('GET', {})));
  app.post('/v1/connect', safe(connect));
  app.options('/v1/connect', safe(preflight));
  app.any('/v1/connect', safe(wrongMethod('POST', CORS_HEADERS)));
  if (options.devMode) {
    app.post('/v1/dev/token', safe(devToken));
    app.options('/v1/dev/token', safe(preflight));
    app.any('/v1/dev/token', safe(wrongMethod('POST', CORS_HEADERS)));
  }
  app.any('/v1/*', safe(notFound(CORS_HEADERS)));
  // One `any` route, not get('/*'): uWS tries method routes before `any` routes, so a get('/*')
  // would shadow the 405 answers above.
  app.any('/*', safe(fallback));

  return app;
}
