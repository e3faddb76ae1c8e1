/**
 * A small RFC 6455 WebSocket client for the load processes: one `net` socket, the upgrade request
 * written by hand, frames parsed in place. It fits the client's `WebSocketLike` (client/transport.ts),
 * as a browser's WebSocket does.
 *
 * Why: in a reconnect storm on this 2-core machine the load processes share the CPU with the servers
 * they measure, and the `ws` client's connect (node:http's `ClientRequest` for the upgrade, a
 * `randomFillSync` per frame for the mask, its event emitters) was a large part of their time
 * (docs/performance.md, P7). A browser's WebSocket is native code; this one costs about what the
 * kernel's TCP connect costs.
 *
 * What it does: binary and text messages (fragmented ones too), ping answered with pong, the closing
 * handshake both ways, `Sec-WebSocket-Accept` checked. What it does not: extensions (no
 * permessage-deflate is offered), subprotocols, TLS (`ws:` only), redirects, proxies.
 */
import { createHash, randomFillSync } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import type { WebSocketLike } from '../../client/mod.js';
import { isPortTaken, type LocalPorts } from './local-ports.js';

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
const CONNECTING = 0;
const OPEN = 1;
const CLOSING = 2;
const CLOSED = 3;
/** Source ports tried, one after another, when each is taken by another socket. */
const PORT_TRIES = 16;
/** How long a close we started waits for the server's close frame before the socket is cut. */
const CLOSE_TIMEOUT_MS = 5_000;
/** Largest message accepted (the servers' own frame limits are far smaller). */
const MAX_MESSAGE_BYTES = 64 * 1024 * 1024;
const HEADER_LIMIT = 16 * 1024;

export interface LiteWebSocketOptions {
  /** Source address of the TCP connection. */
  readonly localAddress?: string;
  /**
   * Source ports to take from (for `localAddress`; local-ports.ts): the port is named instead of searched
   * for by the kernel, and a taken one is skipped for the next.
   */
  readonly localPorts?: LocalPorts;
  /** Called when the upgrade is accepted, before any message. */
  readonly onOpen?: () => void;
  /** Called with each message's bytes before `onmessage` (binary messages only). */
  readonly onBinary?: (data: Uint8Array) => void;
}

/** Random bytes (mask keys, handshake keys) from a pool filled 4 KiB at a time: one `randomFillSync` per 1,024 frames. */
const pool = Buffer.alloc(4096);
let poolAt = pool.length;
function random(n: number): Buffer {
  if (poolAt + n > pool.length) {
    randomFillSync(pool);
    poolAt = 0;
  }
  const bytes = pool.subarray(poolAt, poolAt + n);
  poolAt += n;
  return bytes;
}

function maskKey(): Buffer {
  return random(4);
}

/** One frame from the client: FIN set, masked (RFC 6455 5.3). */
function clientFrame(opcode: number, payload: Uint8Array): Buffer {
  const len = payload.length;
  const head = len < 126 ? 2 : len <= 0xffff ? 4 : 10;
  const frame = Buffer.allocUnsafe(head + 4 + len);
  frame[0] = 0x80 | opcode;
  if (head === 2) frame[1] = 0x80 | len;
  else if (head === 4) {
    frame[1] = 0x80 | 126;
    frame.writeUInt16BE(len, 2);
  } else {
    frame[1] = 0x80 | 127;
    frame.writeUInt32BE(Math.floor(len / 2 ** 32), 2);
    frame.writeUInt32BE(len >>> 0, 6);
  }
  const key = maskKey();
  key.copy(frame, head);
  const at = head + 4;
  for (let i = 0; i < len; i++) frame[at + i] = payload[i]! ^ key[i & 3]!;
  return frame;
}

function closePayload(code: number | undefined, reason: string): Uint8Array {
  if (code === undefined) return new Uint8Array(0);
  const text = Buffer.from(reason, 'utf8');
  const out = Buffer.allocUnsafe(2 + text.length);
  out.writeUInt16BE(code, 0);
  text.copy(out, 2);
  return out;
}

type Handler = ((event: never) => void) | null;

export class LiteWebSocket implements WebSocketLike {
  static readonly CONNECTING = CONNECTING;
  static readonly OPEN = OPEN;
  static readonly CLOSING = CLOSING;
  static readonly CLOSED = CLOSED;

  binaryType = 'arraybuffer';
  onmessage: Handler = null;
  onclose: Handler = null;
  onerror: Handler = null;

  #socket: Socket;
  readonly #key: string;
  readonly #options: LiteWebSocketOptions;
  #state = CONNECTING;
  /** Bytes read and not yet parsed (the response head while connecting, then frames). */
  #pending: Buffer | undefined;
  #fragments: Buffer[] | undefined;
  #fragmentOpcode = 0;
  #fragmentBytes = 0;
  #closeSent = false;
  #received: { code: number; reason: string } | undefined;
  #closeTimer: ReturnType<typeof setTimeout> | undefined;
  #closed = false;

  constructor(url: string, options: LiteWebSocketOptions = {}) {
    const u = new URL(url);
    if (u.protocol !== 'ws:') throw new SyntaxError(`LiteWebSocket speaks ws: only, got "${u.protocol}" in ${url}`);
    this.#options = options;
    this.#key = random(16).toString('base64');
    const port = u.port === '' ? 80 : Number(u.port);
    const host = u.hostname.startsWith('[') ? u.hostname.slice(1, -1) : u.hostname;
    const request =
      `GET ${u.pathname}${u.search} HTTP/1.1\r\nHost: ${u.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      `Sec-WebSocket-Key: ${this.#key}\r\nSec-WebSocket-Version: 13\r\n\r\n`;
    this.#socket = this.#connect(host, port, request, 1);
  }

  /** Opens the TCP connection; with `localPorts`, from a named port, the next one while a port is taken. */
  #connect(host: string, port: number, request: string, attempt: number): Socket {
    const { localAddress, localPorts } = this.#options;
    const localPort = localPorts?.take();
    const socket = connect({ host, port, ...(localAddress !== undefined ? { localAddress } : {}), ...(localPort !== undefined ? { localPort } : {}) });
    socket.setNoDelay(true);
    let connected = false;
    // Given up for a taken source port: its close is not the WebSocket's.
    let abandoned = false;
    socket.on('connect', () => {
      connected = true;
      socket.write(request);
    });
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    socket.on('error', (err) => {
      if (!connected && localPort !== undefined && isPortTaken(err) && attempt < PORT_TRIES && this.#state === CONNECTING) {
        // Another socket holds that port (a TIME_WAIT, a listener): the next one, on a socket of its own.
        abandoned = true;
        this.#socket = this.#connect(host, port, request, attempt + 1);
        return;
      }
      this.#emitError(err.message, err);
    });
    socket.on('close', () => {
      if (localPort !== undefined) localPorts!.release(localPort);
      if (!abandoned) this.#onSocketClose();
    });
    return socket;
  }

  get readyState(): number {
    return this.#state;
  }

  get bufferedAmount(): number {
    return this.#state === CONNECTING ? 0 : this.#socket.writableLength;
  }

  send(data: Uint8Array): void {
    if (this.#state === CONNECTING) throw new Error('WebSocket is not open: readyState 0 (CONNECTING)');
    if (this.#state !== OPEN) return; // as browsers do: data sent after closing is dropped
    this.#socket.write(clientFrame(0x2, data));
  }

  close(code?: number, reason = ''): void {
    if (code !== undefined && code !== 1000 && (code < 3000 || code > 4999)) {
      throw new RangeError(`close code must be 1000 or 3000-4999, got ${code}`);
    }
    if (this.#state === CLOSING || this.#state === CLOSED) return;
    if (this.#state === CONNECTING) {
      this.#emitError('WebSocket was closed before the connection was established');
      this.#socket.destroy();
      return;
    }
    this.#sendClose(code, reason);
  }

  /** Cuts the connection at once, without the closing handshake (`ws`'s terminate): close code 1006. */
  terminate(): void {
    this.#socket.destroy();
  }

  #sendClose(code: number | undefined, reason: string): void {
    this.#state = CLOSING;
    if (this.#closeSent) return;
    this.#closeSent = true;
    this.#socket.write(clientFrame(0x8, closePayload(code, reason)));
    this.#closeTimer = setTimeout(() => this.#socket.destroy(), CLOSE_TIMEOUT_MS);
    this.#closeTimer.unref();
  }

  #onData(chunk: Buffer): void {
    let buf = this.#pending === undefined ? chunk : Buffer.concat([this.#pending, chunk]);
    this.#pending = undefined;
    if (this.#state === CONNECTING) {
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) {
        if (buf.length > HEADER_LIMIT) return this.#fail(`the server's upgrade response head is over ${HEADER_LIMIT} bytes`);
        this.#pending = buf;
        return;
      }
      if (!this.#acceptHead(buf.toString('latin1', 0, end))) return;
      buf = buf.subarray(end + 4);
      this.#state = OPEN;
      this.#options.onOpen?.();
    }
    this.#parseFrames(buf);
  }

  /** Checks the response head; false (and the connection failed) when it is not a valid 101. */
  #acceptHead(head: string): boolean {
    const lines = head.split('\r\n');
    const status = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? '');
    if (status?.[1] !== '101') {
      this.#fail(`Unexpected server response: ${status?.[1] ?? JSON.stringify(lines[0])}`);
      return false;
    }
    const expected = createHash('sha1').update(this.#key + GUID).digest('base64');
    const accept = lines.find((l) => l.toLowerCase().startsWith('sec-websocket-accept:'));
    if (accept?.slice(accept.indexOf(':') + 1).trim() !== expected) {
      this.#fail('Invalid Sec-WebSocket-Accept header');
      return false;
    }
    return true;
  }

  #parseFrames(input: Buffer): void {
    let buf = input;
    while (buf.length >= 2 && !this.#closed) {
      const b0 = buf[0]!;
      const b1 = buf[1]!;
      if ((b1 & 0x80) !== 0) return this.#fail('the server sent a masked frame', 1002);
      if ((b0 & 0x70) !== 0) return this.#fail('the server sent a frame with reserved bits set (no extension was agreed)', 1002);
      let len = b1 & 0x7f;
      let at = 2;
      if (len === 126) {
        if (buf.length < 4) break;
        len = buf.readUInt16BE(2);
        at = 4;
      } else if (len === 127) {
        if (buf.length < 10) break;
        len = buf.readUInt32BE(2) * 2 ** 32 + buf.readUInt32BE(6);
        at = 10;
      }
      if (len > MAX_MESSAGE_BYTES) return this.#fail(`the server sent a frame of ${len} bytes, over ${MAX_MESSAGE_BYTES}`, 1009);
      if (buf.length < at + len) break;
      const payload = buf.subarray(at, at + len);
      buf = buf.subarray(at + len);
      this.#onFrame((b0 & 0x80) !== 0, b0 & 0x0f, payload);
    }
    if (buf.length > 0 && !this.#closed) this.#pending = Buffer.from(buf); // a copy: the chunk is not kept whole
  }

  #onFrame(fin: boolean, opcode: number, payload: Buffer): void {
    switch (opcode) {
      case 0x1:
      case 0x2:
        if (this.#fragments !== undefined) return this.#fail('the server began a message inside a fragmented one', 1002);
        if (fin) return this.#deliver(opcode, payload);
        this.#fragments = [Buffer.from(payload)];
        this.#fragmentOpcode = opcode;
        this.#fragmentBytes = payload.length;
        return;
      case 0x0: {
        if (this.#fragments === undefined) return this.#fail('the server sent a continuation frame outside a message', 1002);
        this.#fragmentBytes += payload.length;
        if (this.#fragmentBytes > MAX_MESSAGE_BYTES) return this.#fail(`the server sent a message over ${MAX_MESSAGE_BYTES} bytes`, 1009);
        this.#fragments.push(Buffer.from(payload));
        if (!fin) return;
        const whole = Buffer.concat(this.#fragments);
        this.#fragments = undefined;
        return this.#deliver(this.#fragmentOpcode, whole);
      }
      case 0x8: {
        const code = payload.length >= 2 ? payload.readUInt16BE(0) : 1005;
        this.#received = { code, reason: payload.length > 2 ? payload.toString('utf8', 2) : '' };
        if (!this.#closeSent) this.#sendClose(code === 1005 ? undefined : code, '');
        this.#socket.end();
        return;
      }
      case 0x9:
        if (this.#state === OPEN) this.#socket.write(clientFrame(0xa, payload));
        return;
      case 0xa:
        return;
      default:
        return this.#fail(`the server sent a frame of unknown opcode ${opcode}`, 1002);
    }
  }

  #deliver(opcode: number, payload: Buffer): void {
    if (this.#state !== OPEN) return;
    if (opcode === 0x2) {
      this.#options.onBinary?.(payload);
      (this.onmessage as ((ev: { data: Uint8Array }) => void) | null)?.({ data: payload });
    } else {
      (this.onmessage as ((ev: { data: string }) => void) | null)?.({ data: payload.toString('utf8') });
    }
  }

  /** The connection failed: an error event, a close frame when open (with `code`), the socket cut. */
  #fail(message: string, code?: number): void {
    this.#emitError(message);
    if (this.#state === OPEN && code !== undefined) this.#sendClose(code, '');
    this.#socket.destroy();
  }

  #emitError(message: string, error?: Error): void {
    if (this.#closed) return;
    (this.onerror as ((ev: { message: string; error?: Error }) => void) | null)?.({ message, ...(error !== undefined ? { error } : {}) });
  }

  #onSocketClose(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#state = CLOSED;
    clearTimeout(this.#closeTimer);
    const r = this.#received;
    (this.onclose as ((ev: { code: number; reason: string }) => void) | null)?.(r ?? { code: 1006, reason: '' });
  }
}
