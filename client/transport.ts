/**
 * The two wires of the client (PROTOCOL.md sections 2 and 3): asking the distributor for a socket
 * (POST /v1/connect), and one WebSocket to a socket server carrying MessagePack frames.
 * Nothing here retries: the client decides what a failure means.
 */
import { decodeFrame, encodeFrame } from './codec.js';
import { DistributorError, ProtocolError, distributorErrorFromResponse } from './errors.js';

/** The answer of POST /v1/connect. */
export interface SocketAllocation {
  readonly connectionId: string;
  /** The chosen socket node id (extension; absent from older distributors): what `exclude` names. */
  readonly node?: string;
  readonly socket: { readonly host: string; readonly port: number; readonly url: string };
  readonly ticket: string;
  /** Ticket expiry, ms since the epoch. */
  readonly expiresAt: number;
  /**
   * A fallback offer's reconnect spread (docs/protocol.md 3.1, extension): after an abnormal drop the
   * client waits up to this many ms, uniformly at random, before opening it.
   */
  readonly spreadMs?: number;
}

/** A server's reconnect spread beyond this is not believed: the client waits at most this long. */
export const MAX_OFFER_SPREAD_MS = 120_000;

/** What the client reads of a fetch answer: a `Response` has it all; a test or load harness may give less. */
export interface ResponseLike {
  readonly ok: boolean;
  readonly status: number;
  readonly headers: { get(name: string): string | null };
  json(): Promise<unknown>;
}

/** `fetch` as the client calls it (the global one by default). */
export type FetchLike = (input: string, init: RequestInit) => Promise<ResponseLike>;

export interface AllocateArgs {
  readonly fetch: FetchLike;
  readonly distributorUrl: string;
  readonly token: string;
  readonly userId: string;
  readonly deviceId: string;
  /** Socket node ids to avoid (extension): nodes this client just failed to reach. */
  readonly exclude?: readonly string[];
  readonly signal: AbortSignal;
}

/** Joins a base URL (with or without a path prefix or trailing slash) and an absolute API path. */
export function apiUrl(base: string, path: string): string {
  return `${base.replace(/\/+$/, '')}${path}`;
}

/**
 * Asks the distributor which socket server to use. Throws DistributorError for any non-2xx answer
 * and for a network failure (status 0, code `network`).
 */
export async function allocateSocket(args: AllocateArgs): Promise<SocketAllocation> {
  let res: ResponseLike;
  try {
    res = await args.fetch(apiUrl(args.distributorUrl, '/v1/connect'), {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${args.token}` },
      body: JSON.stringify(
        args.exclude !== undefined && args.exclude.length > 0
          ? { userId: args.userId, deviceId: args.deviceId, exclude: args.exclude }
          : { userId: args.userId, deviceId: args.deviceId },
      ),
      signal: args.signal,
    });
  } catch (err) {
    if (args.signal.aborted) throw err;
    throw new DistributorError(0, 'network', `cannot reach the distributor at ${args.distributorUrl}: ${String(err)}`, undefined, { cause: err });
  }
  if (!res.ok) throw await distributorErrorFromResponse(res, Date.now());
  const body = (await res.json().catch(() => undefined)) as Partial<SocketAllocation> | undefined;
  const socket = body?.socket;
  if (!body || typeof body.connectionId !== 'string' || typeof body.ticket !== 'string' || typeof socket?.url !== 'string') {
    throw new ProtocolError('the distributor answered /v1/connect without connectionId, ticket and socket.url');
  }
  // A `node` that is not a non-empty string counts as none (nothing to exclude later).
  if (body.node !== undefined && (typeof body.node !== 'string' || body.node.length === 0)) {
    const { node: _ignored, ...rest } = body;
    return rest as SocketAllocation;
  }
  return body as SocketAllocation;
}

/** `url` with `?ticket=` (or `&ticket=` when it already has a query) appended, and `&exclude=` with the nodes to avoid (extension). */
export function socketUrl(url: string, ticket: string, exclude?: readonly string[]): string {
  const avoid = exclude !== undefined && exclude.length > 0 ? `&exclude=${exclude.map(encodeURIComponent).join(',')}` : '';
  return `${url}${url.includes('?') ? '&' : '?'}ticket=${encodeURIComponent(ticket)}${avoid}`;
}

/**
 * What the client needs of a WebSocket: the browser's WebSocket and the `ws` package both fit.
 * Handlers take `never` because the two disagree on event types; the client reads the few fields it
 * needs (data, code, reason, message) defensively.
 */
export interface WebSocketLike {
  binaryType: string;
  readonly readyState: number;
  readonly bufferedAmount: number;
  send(data: Uint8Array<ArrayBuffer>): void;
  close(code?: number, reason?: string): void;
  onmessage: ((event: never) => void) | null;
  onclose: ((event: never) => void) | null;
  onerror: ((event: never) => void) | null;
}

export type WebSocketConstructor = new (url: string) => WebSocketLike;

/** One decoded frame: a map with a string `t`. */
export type Frame = { readonly t: string } & Readonly<Record<string, unknown>>;

export interface Welcome {
  readonly connectionId: string;
  readonly node: string;
  /** The server's storage epoch (docs/protocol.md 3.1), when it sent one. */
  readonly epoch?: string;
  /**
   * Where to reconnect if this connection is lost, with a ticket for it (docs/protocol.md 3.1, extension):
   * an allocation as POST /v1/connect would answer, for the node the distributor would pick next.
   */
  readonly fallback?: SocketAllocation;
}

/** A welcome's `fallback` as an allocation for this connection, or undefined when it is absent or not well-formed. */
export function readFallback(value: unknown, connectionId: string): SocketAllocation | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const f = value as { node?: unknown; socket?: unknown; ticket?: unknown; expiresAt?: unknown; spreadMs?: unknown };
  const socket = f.socket as { host?: unknown; port?: unknown; url?: unknown } | undefined;
  if (typeof f.node !== 'string' || f.node.length === 0 || typeof f.ticket !== 'string' || f.ticket.length === 0) return undefined;
  if (typeof f.expiresAt !== 'number' || !Number.isFinite(f.expiresAt)) return undefined;
  if (typeof socket !== 'object' || socket === null || typeof socket.url !== 'string' || typeof socket.host !== 'string' || typeof socket.port !== 'number') return undefined;
  const offer = { connectionId, node: f.node, socket: { host: socket.host, port: socket.port, url: socket.url }, ticket: f.ticket, expiresAt: f.expiresAt };
  // A spread that is not a positive number is ignored (the client's own applies), a huge one capped.
  if (typeof f.spreadMs !== 'number' || !(f.spreadMs > 0)) return offer;
  return { ...offer, spreadMs: Math.min(MAX_OFFER_SPREAD_MS, Math.floor(f.spreadMs)) };
}

export interface SocketCloseInfo {
  readonly code: number;
  readonly reason: string;
  /** Whether the welcome frame had arrived before the close. */
  readonly welcomed: boolean;
  /** The transport error that preceded the close, if any (browsers give no detail). */
  readonly error?: string;
}

/** Called synchronously, in wire order, so no frame can overtake the welcome. */
export interface SocketHandlers {
  onWelcome(welcome: Welcome): void;
  onFrame(frame: Frame): void;
  onProtocolError(err: ProtocolError): void;
}

const OPEN = 1;
/** Close code the client uses for its own normal closes (RFC 6455). */
export const CLIENT_CLOSE_NORMAL = 1000;

/**
 * One WebSocket to a socket server. `closed` resolves (never rejects) when the socket is gone, for any
 * reason: refused upgrade, no welcome in time, server close, network loss, or close().
 */
export class FrameSocket {
  readonly closed: Promise<SocketCloseInfo>;
  readonly #ws: WebSocketLike;
  #welcomed = false;
  #error: string | undefined;
  #welcomeTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(Ctor: WebSocketConstructor, url: string, handlers: SocketHandlers, welcomeTimeoutMs: number) {
    const ws = new Ctor(url);
    this.#ws = ws;
    ws.binaryType = 'arraybuffer';
    this.closed = new Promise((resolve) => {
      ws.onclose = (ev: { code?: number; reason?: string }) => {
        clearTimeout(this.#welcomeTimer);
        resolve({
          code: ev.code ?? 1006,
          reason: ev.reason ?? '',
          welcomed: this.#welcomed,
          ...(this.#error !== undefined ? { error: this.#error } : {}),
        });
      };
    });
    ws.onerror = (ev: { message?: string; error?: unknown }) => {
      // `ws` says why ("Unexpected server response: 401"); a browser's error event says nothing.
      this.#error = ev.message ?? (ev.error !== undefined ? String(ev.error) : 'WebSocket error');
    };
    ws.onmessage = (ev: { data: unknown }) => this.#onMessage(ev.data, handlers);
    this.#welcomeTimer = setTimeout(() => {
      this.#error = `no welcome from the socket server within ${welcomeTimeoutMs} ms`;
      this.close(CLIENT_CLOSE_NORMAL, 'welcome timeout');
    }, welcomeTimeoutMs);
  }

  #onMessage(data: unknown, handlers: SocketHandlers): void {
    let bytes: Uint8Array;
    if (data instanceof ArrayBuffer) bytes = new Uint8Array(data);
    else if (data instanceof Uint8Array) bytes = data;
    else {
      handlers.onProtocolError(new ProtocolError('the socket server sent a text frame; frames are binary MessagePack'));
      return;
    }
    let frame: unknown;
    try {
      frame = decodeFrame(bytes);
    } catch (err) {
      handlers.onProtocolError(new ProtocolError('the socket server sent a frame that is not MessagePack', { cause: err }));
      return;
    }
    if (typeof frame !== 'object' || frame === null || typeof (frame as { t?: unknown }).t !== 'string') {
      handlers.onProtocolError(new ProtocolError('the socket server sent a frame without a string `t`'));
      return;
    }
    const f = frame as Frame;
    if (!this.#welcomed) {
      if (f.t !== 'welcome' || typeof f.connectionId !== 'string' || typeof f.node !== 'string') {
        handlers.onProtocolError(new ProtocolError(`expected a welcome frame first, got '${f.t}'`));
        return;
      }
      this.#welcomed = true;
      clearTimeout(this.#welcomeTimer);
      // An epoch that is not a non-empty string counts as none: the cache is then left as it is.
      const epoch = typeof f.epoch === 'string' && f.epoch.length > 0 ? f.epoch : undefined;
      const fallback = readFallback(f.fallback, f.connectionId);
      handlers.onWelcome({
        connectionId: f.connectionId,
        node: f.node,
        ...(epoch !== undefined && { epoch }),
        ...(fallback !== undefined && { fallback }),
      });
      return;
    }
    handlers.onFrame(f);
  }

  get welcomed(): boolean {
    return this.#welcomed;
  }

  /** Bytes queued by the WebSocket and not yet sent. */
  get bufferedAmount(): number {
    return this.#ws.bufferedAmount;
  }

  /** Sends one frame; false when the socket is not open (the frame is dropped). */
  send(frame: Readonly<Record<string, unknown>>): boolean {
    if (this.#ws.readyState !== OPEN) return false;
    // msgpackr packs into a plain ArrayBuffer (never a SharedArrayBuffer), which WebSocket.send accepts.
    this.#ws.send(encodeFrame(frame) as Uint8Array<ArrayBuffer>);
    return true;
  }

  close(code = CLIENT_CLOSE_NORMAL, reason = ''): void {
    clearTimeout(this.#welcomeTimer);
    try {
      this.#ws.close(code, reason);
    } catch {
      // Closing a socket that never connected throws in some implementations; it ends up closed either way.
    }
  }
}
