/**
 * Test kit: a device speaking the public protocol directly (HTTP to the distributor, MessagePack frames over a
 * real WebSocket), with no client library in between, so tests check PROTOCOL.md itself.
 */
import WebSocket from 'ws';
import { decode, encode } from '../../protocol/mod.js';

export type Frame = Record<string, unknown> & { t: string };

export interface ConnectAnswer {
  connectionId: string;
  socket: { host: string; port: number; url: string };
  ticket: string;
  expiresAt: number;
}

export async function devToken(url: string, userId: string): Promise<string> {
  const res = await fetch(`${url}/v1/dev/token`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ userId }) });
  if (!res.ok) throw new Error(`dev token: HTTP ${res.status} ${await res.text()}`);
  return ((await res.json()) as { token: string }).token;
}

export async function connectRequest(url: string, token: string, userId: string, deviceId: string, exclude?: readonly string[]): Promise<ConnectAnswer> {
  const res = await fetch(`${url}/v1/connect`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify(exclude === undefined ? { userId, deviceId } : { userId, deviceId, exclude }),
  });
  if (!res.ok) throw new Error(`connect: HTTP ${res.status} ${await res.text()}`);
  return (await res.json()) as ConnectAnswer;
}

/** Frames as text for error messages (BigInt values included). */
function show(frames: Frame[]): string {
  return JSON.stringify(frames, (_k, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v));
}

/** A connected device: every frame it received is kept, in order. */
export class Device {
  readonly frames: Frame[] = [];
  readonly ws: WebSocket;
  readonly answer: ConnectAnswer;
  closed: { code: number; reason: string } | undefined;
  #nextId = 1;
  #waiters: (() => void)[] = [];

  private constructor(ws: WebSocket, answer: ConnectAnswer) {
    this.ws = ws;
    this.answer = answer;
    ws.on('message', (data: Buffer) => {
      this.frames.push(decode(data) as Frame);
      this.#wake();
    });
    ws.on('close', (code, reason) => {
      this.closed = { code, reason: reason.toString() };
      this.#wake();
    });
  }

  /** Dev token, connect request, WebSocket with the ticket; resolves after `welcome`. */
  /**
   * Connects as a client does: when the socket server named cannot be reached (killed, and the
   * distributor has not seen it go yet), asks again excluding it (docs/protocol.md 2.2), a few times.
   */
  static async open(url: string, userId: string, deviceId: string): Promise<Device> {
    const token = await devToken(url, userId);
    const failed: string[] = [];
    for (let attempt = 0; ; attempt++) {
      const answer = await connectRequest(url, token, userId, deviceId, failed.length > 0 ? failed : undefined);
      try {
        return await Device.openWith(answer);
      } catch (err) {
        const refused = err instanceof Error && (err.cause as { code?: unknown } | undefined)?.code === 'ECONNREFUSED';
        const node = (answer as { node?: unknown }).node;
        if (!refused || typeof node !== 'string' || attempt >= 3) throw err;
        failed.push(node);
      }
    }
  }

  static async openWith(answer: ConnectAnswer): Promise<Device> {
    const ws = new WebSocket(`${answer.socket.url}?ticket=${encodeURIComponent(answer.ticket)}`);
    const dev = new Device(ws, answer);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', (err: Error) => reject(new Error(`could not open ${answer.socket.url} (node ${String((answer as { node?: unknown }).node)}): ${err.message}`, { cause: err })));
      ws.once('unexpected-response', (_req, res) => reject(new Error(`upgrade refused: HTTP ${res.statusCode}`)));
    });
    await dev.next((f) => f.t === 'welcome');
    return dev;
  }

  get connectionId(): string {
    return this.answer.connectionId;
  }

  send(frame: Record<string, unknown>): void {
    this.ws.send(encode(frame));
  }

  /** Sends a request with a fresh id and resolves with the answer carrying that id. */
  async request(frame: Record<string, unknown>, timeoutMs = 10_000): Promise<Frame> {
    const id = this.#nextId++;
    this.send({ ...frame, id });
    return this.next((f) => f['id'] === id && f.t !== 'welcome', timeoutMs);
  }

  /** Waits for a received frame matching `pred` (searching those already received first, then consuming none). */
  async next(pred: (f: Frame) => boolean, timeoutMs = 10_000): Promise<Frame> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const hit = this.frames.find(pred);
      if (hit) return hit;
      if (this.closed) throw new Error(`socket closed (${this.closed.code} ${this.closed.reason}) while waiting; frames: ${show(this.frames)}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no matching frame within ${timeoutMs} ms; frames: ${show(this.frames)}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.#waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  /** Waits for the socket to close and returns its code. */
  async closedWith(timeoutMs = 10_000): Promise<{ code: number; reason: string }> {
    const deadline = Date.now() + timeoutMs;
    while (!this.closed) {
      if (Date.now() > deadline) throw new Error('socket did not close in time');
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 100);
        this.#waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
    return this.closed;
  }

  close(): void {
    this.ws.close();
  }

  #wake(): void {
    const ws = this.#waiters;
    this.#waiters = [];
    for (const w of ws) w();
  }
}
