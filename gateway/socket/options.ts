/**
 * Options of the socket server and their defaults, checked once at start.
 */
import { SocketConfigError } from './errors.js';

/** Per-connection limits. Every field is optional. */
export interface SocketLimits {
  /** Largest client frame answered normally; bigger ones get `too_large` (default 1 MiB). Frames over
   *  twice this size are refused by the WebSocket layer itself, which closes the connection (1009). */
  maxFrameBytes?: number;
  /** Seconds without traffic before a connection is closed (default 60; pings are sent automatically,
   *  so a live client never hits it). uWebSockets.js rounds it to 4-second steps; at least 8. */
  idleTimeoutSec?: number;
  /** Bytes buffered for a client that does not read; past it the client is disconnected (default 1 MiB). */
  maxBackpressureBytes?: number;
  /** Token bucket per connection: frames per second, and burst (defaults 100 and twice the rate). */
  ratePerSec?: number;
  burst?: number;
  /** Frames refused by the bucket since it was last full after which the connection is closed with
   *  `policy` (default 500): sustained abuse, not a burst. */
  maxRejectedFrames?: number;
  /** Requests waiting for the store per connection; more get `rate_limited` (default 64). */
  maxInflight?: number;
  /** Deadline of a store request (default 10_000 ms); past it the client gets `internal`. */
  askTimeoutMs?: number;
}

export interface SocketServerOptions {
  /** Listen address (default 127.0.0.1). */
  host?: string;
  /** Listen port; 0 (the default) picks a free one. */
  port?: number;
  /** Host clients connect to, announced to the distributor (default: host, or 127.0.0.1 for 0.0.0.0). */
  publicHost?: string;
  /**
   * The exact WebSocket URL the distributor hands out (ws:// or wss://, no query), for a node behind a
   * TLS proxy or a port mapping: e.g. `wss://ws1.example.com/ws`. Overrides publicHost. The proxy must
   * pass the upgrade and the query string (`?ticket=`) through to this server's `/ws`.
   */
  publicUrl?: string;
  /** Serve wss:// directly: PEM certificate (chain) and key files (uWebSockets.js SSLApp). */
  tls?: TlsFiles;
  /** Told about push deliveries (metrics). */
  observer?: SocketObserver;
  /** Weight of this node in allocation (default 1). */
  capacity?: number;
  /** Secret shared with the distributor, to verify tickets. */
  ticketSecret: string | Uint8Array;
  /**
   * Ticket lifetime the distributors use (default 30_000 ms). Tickets expiring further out (plus 5 s of
   * clock skew) are refused, and used ticket ids are kept in memory that long (gateway/ticket.ts).
   */
  ticketTtlMs?: number;
  /**
   * Lifetime of the fallback ticket each session gets in `welcome` (fallback.ts; default 3_600_000 ms,
   * capped by the user's token expiry; 0: no fallback offers, and fallback tickets are refused). Give
   * every socket node the same value: a node refuses fallback tickets that expire further out than its own.
   */
  fallbackTicketTtlMs?: number;
  /**
   * While the node is starting at least this many sessions (a burst such as a reconnect storm), welcomes
   * go without their fallback offer and each gets it in a `{t:"fallback"}` frame once fewer are starting
   * (fallback-sender.ts; default 128; 0: never left out). A node taking a steady 1,000 connects a second
   * holds a few starting at a time.
   */
  fallbackDeferStarting?: number;
  /**
   * Connections a second each surviving socket node takes when a node dies (default 2000: a survivor
   * spends about 0.45 ms of CPU per reconnect, docs/capacity.md). Sizes the reconnect spread each
   * fallback offer carries, `spreadMs` = this node's connections / (other socket servers x stormRate),
   * 1 s to 120 s (storm-spread.ts); 0: offers carry no spread (clients spread over 0.1-1 s by themselves).
   */
  stormRate?: number;
  /** Subject prefix of the cluster (default `sm`). */
  prefix?: string;
  /** Actor kind of the user store (default `store`). */
  storeKind?: string;
  /** JetStream replicas of the session fence bucket (default 1; 3 on a 3-server cluster). */
  replicas?: number;
  /** The storage's partitions (the cluster's `storePartitions`, default 1): the storage epoch follows each one's data stream. */
  storePartitions?: number;
  limits?: SocketLimits;
  /** drain(): `drain` frames are sent spread uniformly over this many ms (default 5000). */
  drainSpreadMs?: number;
  /** drain(): connections still open this long after their `drain` frame are closed anyway (default 5000). */
  drainGraceMs?: number;
  /**
   * `{t:"resync"}` after missed pushes (NATS reconnect, a stall, a storage or push node lost) is sent to
   * the node's clients spread over min(this, 2 ms per client) ms, so a big node does not send every
   * client to storage at once (default 3000).
   */
  resyncSpreadMs?: number;
  /** Actor kind of the push server (default `push`): the loss of a node hosting it or the store means resync. */
  pushKind?: string;
  /** The process did not run for this long (SIGSTOP, a long pause): re-check every session's fence claim and resync (default 2000 ms). */
  stallMs?: number;
  /**
   * Live connections one user may hold across the cluster; the next one gets `{t:"error",
   * code:"quota_exceeded"}` and close 4101 right after the upgrade, before its session starts (default
   * 32; the same device reconnecting is never refused). 0 turns the quota off, and with it the KV read
   * and write it costs at each open and close.
   */
  maxConnectionsPerUser?: number;
  /**
   * Admission control: sessions this node may be starting at once (from the socket's open until the
   * session's pending commands are fetched: the connection quota, the session actor, `welcome`, the
   * fence claim, the store's answer). An upgrade beyond it is answered 503 with `Retry-After: 1` at
   * once, before the ticket check: the client goes back to the distributor, avoiding this node for a
   * while, instead of queueing work past its own timeout (congestion collapse in a reconnect storm;
   * docs/capacity.md section 5). Default 8192; 0 turns it off.
   */
  maxStartingSessions?: number;
}

/** PEM files of a TLS server. */
export interface TlsFiles {
  readonly certFile: string;
  readonly keyFile: string;
}

/** What the socket server reports beside stats(). Called on the hot path: keep it cheap, never throw. */
export interface SocketObserver {
  /** A push envelope was handed to local sessions `seconds` after the push server published it. */
  pushDelivered(seconds: number): void;
}

export interface ResolvedLimits {
  readonly maxFrameBytes: number;
  readonly idleTimeoutSec: number;
  readonly maxBackpressureBytes: number;
  readonly ratePerSec: number;
  readonly burst: number;
  readonly maxRejectedFrames: number;
  readonly maxInflight: number;
  readonly askTimeoutMs: number;
}

export interface ResolvedOptions {
  readonly host: string;
  readonly port: number;
  readonly publicHost: string;
  /** The public URL exactly as given, and the host and port clients reach through it. */
  readonly publicUrl: { readonly href: string; readonly host: string; readonly port: number } | undefined;
  readonly tls: TlsFiles | undefined;
  readonly observer: SocketObserver | undefined;
  readonly capacity: number;
  readonly ticketSecret: string | Uint8Array;
  readonly ticketTtlMs: number;
  /** 0: no fallback offers. */
  readonly fallbackTicketTtlMs: number;
  /** 0: offers are never left out of welcomes. */
  readonly fallbackDeferStarting: number;
  readonly stormRate: number;
  readonly prefix: string;
  readonly storeKind: string;
  readonly replicas: number;
  readonly storePartitions: number;
  readonly limits: ResolvedLimits;
  readonly drainSpreadMs: number;
  readonly drainGraceMs: number;
  readonly resyncSpreadMs: number;
  readonly pushKind: string;
  readonly stallMs: number;
  readonly maxConnectionsPerUser: number;
  /** 0: no bound. */
  readonly maxStartingSessions: number;
}

function positive(name: string, value: number | undefined, fallback: number, min = 1): number {
  const v = value ?? fallback;
  if (!Number.isFinite(v) || v < min) throw new SocketConfigError(`socket server option ${name} must be a number >= ${min} (got ${String(value)})`);
  return v;
}

/** Connections a second a surviving socket node is expected to take in a reconnect storm (stormRate). */
export const DEFAULT_STORM_RATE = 2_000;

/** Default lifetime of a fallback ticket (fallback.ts): an hour, and never past the user's token. */
export const DEFAULT_FALLBACK_TICKET_TTL_MS = 3_600_000;

function fallbackTtl(value: number | undefined): number {
  const v = value ?? DEFAULT_FALLBACK_TICKET_TTL_MS;
  if (v === 0) return 0;
  if (!Number.isFinite(v) || v < 10_000 || v > 86_400_000) {
    throw new SocketConfigError(`socket server option fallbackTicketTtlMs must be 0 (no fallback offers) or 10000..86400000 ms (got ${String(value)})`);
  }
  return v;
}

/** Applies defaults and checks ranges. Throws SocketConfigError naming the option. */
export function resolveOptions(o: SocketServerOptions): ResolvedOptions {
  if (!o.ticketSecret || o.ticketSecret.length === 0) {
    throw new SocketConfigError('socket server option ticketSecret is required: the same secret the distributor signs tickets with');
  }
  const host = o.host ?? '127.0.0.1';
  const port = o.port ?? 0;
  if (!Number.isInteger(port) || port < 0 || port > 65_535) throw new SocketConfigError(`socket server option port must be 0..65535 (got ${port})`);
  const prefix = o.prefix ?? 'sm';
  if (!/^[A-Za-z0-9_-]+$/.test(prefix)) throw new SocketConfigError(`socket server option prefix must match [A-Za-z0-9_-]+ (got ${JSON.stringify(prefix)})`);
  const l = o.limits ?? {};
  const idle = l.idleTimeoutSec ?? 60;
  if (!Number.isInteger(idle) || (idle !== 0 && idle < 8) || idle > 960) {
    throw new SocketConfigError(`socket server option limits.idleTimeoutSec must be 0 (off) or 8..960 seconds (got ${idle})`);
  }
  const ratePerSec = positive('limits.ratePerSec', l.ratePerSec, 100);
  let publicUrl: ResolvedOptions['publicUrl'];
  if (o.publicUrl !== undefined) {
    let u: URL;
    try {
      u = new URL(o.publicUrl);
    } catch {
      throw new SocketConfigError(`socket server option publicUrl ${JSON.stringify(o.publicUrl)} is not a URL; write it like wss://ws1.example.com/ws`);
    }
    if ((u.protocol !== 'ws:' && u.protocol !== 'wss:') || u.search !== '' || u.hash !== '' || o.publicUrl.includes('?')) {
      throw new SocketConfigError(`socket server option publicUrl must be a ws:// or wss:// URL without query or fragment (got ${JSON.stringify(o.publicUrl)})`);
    }
    // IPv6 hosts come bracketed in URL.hostname; clients that build their own URL from host/port need them bare.
    const host = u.hostname.replace(/^\[(.*)\]$/, '$1');
    publicUrl = { href: o.publicUrl, host, port: u.port !== '' ? Number(u.port) : u.protocol === 'wss:' ? 443 : 80 };
  }
  if (o.tls !== undefined && (!o.tls.certFile || !o.tls.keyFile)) throw new SocketConfigError('socket server option tls needs both certFile and keyFile');
  return {
    host,
    port,
    publicHost: publicUrl?.host ?? o.publicHost ?? (host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host),
    publicUrl,
    tls: o.tls,
    observer: o.observer,
    capacity: positive('capacity', o.capacity, 1, Number.MIN_VALUE),
    ticketSecret: o.ticketSecret,
    ticketTtlMs: positive('ticketTtlMs', o.ticketTtlMs, 30_000, 1_000),
    fallbackTicketTtlMs: fallbackTtl(o.fallbackTicketTtlMs),
    fallbackDeferStarting: o.fallbackDeferStarting === 0 ? 0 : Math.floor(positive('fallbackDeferStarting', o.fallbackDeferStarting, 128)),
    stormRate: o.stormRate === 0 ? 0 : positive('stormRate', o.stormRate, DEFAULT_STORM_RATE),
    prefix,
    storeKind: o.storeKind ?? 'store',
    replicas: positive('replicas', o.replicas, 1),
    storePartitions: positive('storePartitions', o.storePartitions, 1),
    limits: {
      maxFrameBytes: positive('limits.maxFrameBytes', l.maxFrameBytes, 1024 * 1024, 64),
      idleTimeoutSec: idle,
      maxBackpressureBytes: positive('limits.maxBackpressureBytes', l.maxBackpressureBytes, 1024 * 1024, 1024),
      ratePerSec,
      burst: positive('limits.burst', l.burst, ratePerSec * 2),
      maxRejectedFrames: positive('limits.maxRejectedFrames', l.maxRejectedFrames, 500),
      maxInflight: positive('limits.maxInflight', l.maxInflight, 64),
      askTimeoutMs: positive('limits.askTimeoutMs', l.askTimeoutMs, 10_000),
    },
    drainSpreadMs: positive('drainSpreadMs', o.drainSpreadMs, 5_000, 0),
    drainGraceMs: positive('drainGraceMs', o.drainGraceMs, 5_000, 0),
    resyncSpreadMs: positive('resyncSpreadMs', o.resyncSpreadMs, 3_000, 0),
    pushKind: o.pushKind ?? 'push',
    stallMs: positive('stallMs', o.stallMs, 2_000, 500),
    maxConnectionsPerUser: o.maxConnectionsPerUser === 0 ? 0 : positive('maxConnectionsPerUser', o.maxConnectionsPerUser, 32),
    maxStartingSessions: o.maxStartingSessions === 0 ? 0 : Math.floor(positive('maxStartingSessions', o.maxStartingSessions, 8192)),
  };
}
