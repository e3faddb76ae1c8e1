/**
 * A `fetch` for the client library whose TCP connections leave from one local address (127.0.0.x),
 * over a small keep-alive pool. Node's global fetch cannot bind a source address without undici's
 * Agent (not a dependency), and the load must come from several addresses: the distributor limits
 * requests per address, and one address has only ~28k ephemeral ports per destination.
 *
 * It speaks HTTP/1.1 itself over `net` sockets and answers with a small ResponseLike (what the client
 * reads), not node:http and a web `Response`: in a reconnect storm (P7) the load processes were the
 * busy ones, and node:http's request objects and the web streams behind each `Response` were a tenth
 * of their time. Answers must carry Content-Length (the distributor's always do).
 *
 * Like a browser, a request that fails on a reused keep-alive socket (the server closed it while idle)
 * is sent once more on a fresh one; idle sockets are closed after 4 s, before the server's own idle
 * timeout (uWebSockets.js: 10 s). At most `maxSockets` requests are in flight; the rest wait in order.
 */
import { connect, type Socket } from 'node:net';
import type { FetchLike, ResponseLike } from '../../client/mod.js';

const IDLE_MS = 4_000;
const HEADER_END = Buffer.from('\r\n\r\n');

interface Exchange {
  /** The request head and body, written at once (one system call and one segment, as a browser sends a small POST). */
  readonly bytes: Buffer;
  readonly signal: AbortSignal | undefined;
  readonly resolve: (r: ResponseLike) => void;
  readonly reject: (e: Error) => void;
  retried: boolean;
}

class Answer implements ResponseLike {
  readonly ok: boolean;
  readonly headers: { get(name: string): string | null };
  constructor(
    readonly status: number,
    headers: ReadonlyMap<string, string>,
    private readonly body: Buffer,
  ) {
    this.ok = status >= 200 && status < 300;
    this.headers = { get: (name) => headers.get(name.toLowerCase()) ?? null };
  }
  json(): Promise<unknown> {
    try {
      return Promise.resolve(JSON.parse(this.body.toString('utf8')) as unknown);
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
  }
}

/** One keep-alive connection: one exchange at a time. */
class Conn {
  readonly socket: Socket;
  #buf: Buffer = Buffer.alloc(0);
  #current: Exchange | undefined;
  #idle: NodeJS.Timeout | undefined;
  /** It carried an exchange before: a failure may be the server having closed it while idle. */
  used = false;
  dead = false;

  constructor(
    host: string,
    port: number,
    localAddress: string,
    private readonly pool: Pool,
  ) {
    this.socket = connect({ host, port, localAddress });
    this.socket.setNoDelay(true);
    this.socket.on('data', (d: Buffer) => this.#data(d));
    this.socket.on('error', (err) => this.#fail(err));
    this.socket.on('close', () => this.#fail(new Error('socket hang up')));
  }

  send(x: Exchange): void {
    clearTimeout(this.#idle);
    this.#current = x;
    this.socket.write(x.bytes);
  }

  #data(d: Buffer): void {
    this.#buf = this.#buf.length === 0 ? d : Buffer.concat([this.#buf, d]);
    const end = this.#buf.indexOf(HEADER_END);
    if (end < 0) return;
    const lines = this.#buf.subarray(0, end).toString('latin1').split('\r\n');
    const status = Number(lines[0]!.slice(9, 12));
    const headers = new Map<string, string>();
    for (let i = 1; i < lines.length; i++) {
      const line = lines[i]!;
      const colon = line.indexOf(':');
      if (colon > 0) headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
    }
    const length = Number(headers.get('content-length'));
    if (!Number.isSafeInteger(length)) {
      this.#fail(new Error(`HTTP answer ${status} without Content-Length: this load client reads only those`));
      return;
    }
    if (this.#buf.length < end + 4 + length) return;
    const body = this.#buf.subarray(end + 4, end + 4 + length);
    this.#buf = Buffer.alloc(0);
    const x = this.#current;
    this.#current = undefined;
    this.used = true;
    if (headers.get('connection')?.toLowerCase() === 'close') this.#retire();
    else this.#idle = setTimeout(() => this.#retire(), IDLE_MS);
    x?.resolve(new Answer(status, headers, body));
    this.pool.release(this);
  }

  #retire(): void {
    this.dead = true;
    this.pool.forget(this);
    this.socket.destroy();
  }

  #fail(err: Error): void {
    if (this.dead && this.#current === undefined) return;
    clearTimeout(this.#idle);
    this.dead = true;
    this.pool.forget(this);
    this.socket.destroy();
    const x = this.#current;
    this.#current = undefined;
    if (x === undefined) return;
    if (this.used && !x.retried) {
      x.retried = true;
      this.pool.submit(x);
    } else x.reject(err);
  }

  /** The exchange was aborted by its caller: the connection's answer would arrive for nobody. */
  abort(x: Exchange): boolean {
    if (this.#current !== x) return false;
    this.#current = undefined;
    this.#retire();
    return true;
  }
}

class Pool {
  readonly #idle: Conn[] = [];
  readonly #busy = new Set<Conn>();
  readonly #waiting: Exchange[] = [];

  constructor(
    private readonly host: string,
    private readonly port: number,
    private readonly localAddress: string,
    private readonly maxSockets: number,
  ) {}

  submit(x: Exchange): void {
    const conn = this.#take();
    if (conn === undefined) this.#waiting.push(x);
    else this.#run(conn, x);
  }

  release(conn: Conn): void {
    this.#busy.delete(conn);
    if (conn.dead) return this.#next();
    const x = this.#waiting.shift();
    if (x === undefined) this.#idle.push(conn);
    else this.#run(conn, x);
  }

  forget(conn: Conn): void {
    const i = this.#idle.indexOf(conn);
    if (i >= 0) this.#idle.splice(i, 1);
    if (this.#busy.delete(conn)) this.#next();
  }

  #next(): void {
    const x = this.#waiting.shift();
    if (x !== undefined) this.submit(x);
  }

  #take(): Conn | undefined {
    for (let conn = this.#idle.pop(); conn !== undefined; conn = this.#idle.pop()) if (!conn.dead) return conn;
    if (this.#busy.size >= this.maxSockets) return undefined;
    return new Conn(this.host, this.port, this.localAddress, this);
  }

  #run(conn: Conn, x: Exchange): void {
    if (x.signal?.aborted) {
      this.#idle.push(conn);
      x.reject(abortError(x.signal));
      return;
    }
    this.#busy.add(conn);
    x.signal?.addEventListener('abort', () => {
      if (conn.abort(x)) x.reject(abortError(x.signal!));
    }, { once: true });
    conn.send(x);
  }
}

function abortError(signal: AbortSignal): Error {
  return signal.reason instanceof Error ? signal.reason : new DOMException('the request was aborted', 'AbortError');
}

export function boundFetch(localAddress: string, maxSockets = 64): FetchLike {
  const pools = new Map<string, Pool>();
  return (input, init) =>
    new Promise<ResponseLike>((resolve, reject) => {
      const url = new URL(input);
      if (url.protocol !== 'http:') throw new TypeError(`boundFetch speaks plain HTTP only, not ${url.protocol}`);
      let pool = pools.get(url.host);
      if (pool === undefined) pools.set(url.host, (pool = new Pool(url.hostname, Number(url.port || 80), localAddress, maxSockets)));
      const body = typeof init.body === 'string' ? init.body : '';
      let head = `${init.method ?? 'GET'} ${url.pathname}${url.search} HTTP/1.1\r\nHost: ${url.host}\r\nContent-Length: ${Buffer.byteLength(body)}\r\n`;
      for (const [k, v] of headerPairs(init.headers)) head += `${k}: ${v}\r\n`;
      pool.submit({ bytes: Buffer.from(`${head}\r\n${body}`, 'utf8'), signal: init.signal ?? undefined, resolve, reject, retried: false });
    });
}

/** The request's headers as pairs: a plain object (what the client passes) without building a web Headers. */
function headerPairs(h: RequestInit['headers']): Iterable<[string, string]> {
  if (h === undefined) return [];
  if (h instanceof Headers || Array.isArray(h)) return new Headers(h).entries();
  return Object.entries(h as Record<string, string>);
}
