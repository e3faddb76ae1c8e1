/**
 * A small hand-written stand-in for the distributor and one socket server, for the client's behaviour
 * tests: real HTTP and real WebSockets on a free port, frames in MessagePack written by another library
 * (@msgpack/msgpack), and an in-memory store that follows PROTOCOL.md sections 2 and 3. Switches let a
 * test inject what is hard to provoke in the real cluster on demand (a 503, a refused upgrade, a missing
 * welcome, a close code). The real cluster is exercised by client.e2e.test.ts.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { decode, encode } from '@msgpack/msgpack';
import { WebSocketServer, type WebSocket } from 'ws';

type Frame = Record<string, unknown> & { t: string };

interface StoredRecord {
  rev: number;
  value?: unknown;
  deleted?: boolean;
}

interface UserData {
  rev: number;
  collections: Map<string, Map<string, StoredRecord>>;
  /** Commands not yet acked: commandId -> command. */
  commands: Map<string, { toDevice: string; fromDevice: string; body: unknown }>;
}

/** What /v1/connect answers instead of a socket, when a test says so. */
export interface HttpReply {
  status: number;
  headers?: Record<string, string>;
  body?: unknown;
}

export class FakeSession {
  readonly frames: Frame[] = [];
  readonly closed: Promise<void>;
  constructor(
    readonly ws: WebSocket,
    readonly userId: string,
    readonly deviceId: string,
    readonly node: string,
  ) {
    this.closed = new Promise((resolve) => ws.once('close', () => resolve()));
  }
  get connectionId(): string {
    return `${this.userId}/${this.deviceId}`;
  }
  get open(): boolean {
    return this.ws.readyState === this.ws.OPEN;
  }
  send(frame: Frame): void {
    if (this.open) this.ws.send(encode(frame, { useBigInt64: true }));
  }
  close(code: number, reason = ''): Promise<void> {
    this.ws.close(code, reason);
    return this.closed;
  }
  /** Cuts the TCP connection without a close frame (the client sees 1006). */
  kill(): Promise<void> {
    this.ws.terminate();
    return this.closed;
  }
}

export interface FakeClusterOptions {
  /** Records per pull answer (default 100); a small page makes the client follow `more`. */
  pageSize?: number;
  /** Tokens the distributor accepts (default: any token starting with "good"). */
  acceptToken?: (token: string) => boolean;
}

export class FakeCluster {
  readonly connects: Array<{ token: string; userId: string; deviceId: string; at: number; exclude?: string[] }> = [];
  /**
   * Node ids /v1/connect names in `node`: the first one not in the request's `exclude` (the first one
   * when all are excluded), as the real distributor's rule. Empty: no `node` (an older distributor).
   */
  allocNodes: string[] = ['node-a', 'node-b'];
  readonly sessions: FakeSession[] = [];
  /** Answers for the next /v1/connect calls, in order, instead of a socket. */
  readonly connectReplies: HttpReply[] = [];
  /** While true, /v1/connect answers 503 (Retry-After 0.1 s): the device cannot get online. */
  unavailable = false;
  /** Refuse this many upcoming upgrades with HTTP 401 (a ticket the socket server does not accept). */
  refuseUpgrades = 0;
  /** When false, sessions get no welcome frame. */
  sendWelcome = true;
  /**
   * The fallback node offered in each welcome (docs/protocol.md 3.1) with a ticket this fake accepts once;
   * undefined: no offer. `fallbackTtlMs` is the offer's lifetime.
   */
  fallbackNode: string | undefined;
  fallbackTtlMs = 3_600_000;
  /** The offer's reconnect spread (`spreadMs`, anything, to test what the client makes of it); undefined: none. */
  fallbackSpreadMs: unknown = undefined;
  /** Upgrades made with a fallback ticket. */
  fallbackUpgrades = 0;
  /** The `exclude` of every upgrade's URL, in order (null: none). */
  readonly upgradeExcludes: (string | null)[] = [];
  /** Storage epoch sent in welcome; undefined sends none (a server that does not know it). See wipe(). */
  epoch: string | undefined = 'fake-epoch-1';
  /** When false, requests get no answer (a server that hangs). */
  answerRequests = true;
  /** Answer this many upcoming requests with rate_limited, as the real server does past its limits. */
  rateLimitNext = 0;
  /** Answer the next request of this type with this error frame. */
  errorFor: { t: string; code: string; message: string } | undefined;
  /** Apply the next commit, then cut the connection before answering it (the answer is lost). */
  loseNextCommitAnswer = false;
  /** Commits applied (resends answered from their txid not counted). */
  commitsApplied = 0;
  /** Answers by txid, as the real store keeps them: a resend is answered, not applied again. */
  readonly #txids = new Map<string, { rev: number; conflicts: unknown[] }>();
  /** Pull requests seen, per collection. */
  readonly pulls: Array<{ collection: string; since: number }> = [];
  readonly #server: Server;
  readonly #wss = new WebSocketServer({ noServer: true });
  readonly #tickets = new Map<string, { userId: string; deviceId: string }>();
  readonly #users = new Map<string, UserData>();
  readonly #opts: Required<FakeClusterOptions>;
  #nextTicket = 1;
  #nextCommand = 1;
  #nextNode = 1;

  private constructor(opts: FakeClusterOptions) {
    this.#opts = { pageSize: opts.pageSize ?? 100, acceptToken: opts.acceptToken ?? ((t) => t.startsWith('good')) };
    this.#server = createServer((req, res) => void this.#http(req, res));
    this.#server.on('upgrade', (req, socket, head) => this.#upgrade(req, socket, head));
  }

  static async start(opts: FakeClusterOptions = {}): Promise<FakeCluster> {
    const fake = new FakeCluster(opts);
    await new Promise<void>((resolve, reject) => {
      fake.#server.once('error', reject);
      fake.#server.listen(0, '127.0.0.1', () => resolve());
    });
    return fake;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
  }

  /** The newest session of a device. */
  session(deviceId: string): FakeSession | undefined {
    return this.sessions.filter((s) => s.deviceId === deviceId).at(-1);
  }

  /** Writes a record directly, as another device's commit would (with a sync push to every session of the user). */
  storeDirect(userId: string, collection: string, key: string, value: unknown, opts: { push?: boolean } = {}): number {
    const user = this.#user(userId);
    const rev = ++user.rev;
    this.#collection(user, collection).set(key, { rev, value });
    if (opts.push !== false) for (const s of this.#live(userId)) s.send({ t: 'sync', collection, rev });
    return rev;
  }

  /**
   * Forgets every user's records, revs and commands, as a cluster started again on a wiped data dir:
   * revs start over from 1, and new sessions are welcomed with `epoch`.
   */
  wipe(epoch: string): void {
    this.#users.clear();
    this.epoch = epoch;
  }

  async #http(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const reply = (r: HttpReply): void => {
      res.writeHead(r.status, { 'content-type': 'application/json', ...r.headers });
      res.end(r.body === undefined ? '' : JSON.stringify(r.body));
    };
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    if (req.method !== 'POST' || req.url !== '/v1/connect') return reply({ status: 404, body: { error: { code: 'not_found', message: 'no such route' } } });
    const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { userId: string; deviceId: string; exclude?: string[] };
    const token = (req.headers.authorization ?? '').replace(/^Bearer /, '');
    this.connects.push({ token, userId: body.userId, deviceId: body.deviceId, at: Date.now(), ...(body.exclude !== undefined && { exclude: body.exclude }) });
    if (this.unavailable) return reply({ status: 503, headers: { 'retry-after': '0.1' }, body: { error: { code: 'unavailable', message: 'no live socket server' } } });
    const injected = this.connectReplies.shift();
    if (injected) return reply(injected);
    if (!this.#opts.acceptToken(token)) return reply({ status: 401, body: { error: { code: 'unauthorized', message: 'invalid token' } } });
    const ticket = this.#ticket(body.userId, body.deviceId, false);
    const port = (this.#server.address() as AddressInfo).port;
    const node = this.allocNodes.find((n) => !(body.exclude ?? []).includes(n)) ?? this.allocNodes[0];
    reply({
      status: 200,
      body: {
        connectionId: `${body.userId}/${body.deviceId}`,
        ...(node !== undefined && { node }),
        socket: { host: '127.0.0.1', port, url: `ws://127.0.0.1:${port}/ws` },
        ticket,
        expiresAt: Date.now() + 30_000,
      },
    });
  }

  #ticket(userId: string, deviceId: string, fallback: boolean): string {
    const ticket = `${fallback ? 'fb-ticket' : 'ticket'}-${this.#nextTicket++}`;
    this.#tickets.set(ticket, { userId, deviceId });
    return ticket;
  }

  /** A fallback offer for `session`'s device (a fresh single-use ticket), or undefined when none is configured. */
  fallbackOffer(session: FakeSession): Frame['fallback'] {
    if (this.fallbackNode === undefined) return undefined;
    const port = (this.#server.address() as AddressInfo).port;
    return {
      node: this.fallbackNode,
      socket: { host: '127.0.0.1', port, url: `ws://127.0.0.1:${port}/ws` },
      ticket: this.#ticket(session.userId, session.deviceId, true),
      expiresAt: Date.now() + this.fallbackTtlMs,
      ...(this.fallbackSpreadMs !== undefined && { spreadMs: this.fallbackSpreadMs }),
    };
  }

  #upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const query = new URL(req.url ?? '/', 'http://x').searchParams;
    const ticket = query.get('ticket') ?? '';
    this.upgradeExcludes.push(query.get('exclude'));
    const claims = this.#tickets.get(ticket);
    this.#tickets.delete(ticket);
    if (!claims || this.refuseUpgrades > 0) {
      if (claims) this.refuseUpgrades--;
      socket.end('HTTP/1.1 401 Unauthorized\r\ncontent-length: 0\r\n\r\n');
      return;
    }
    if (ticket.startsWith('fb-ticket')) this.fallbackUpgrades++;
    this.#wss.handleUpgrade(req, socket, head, (ws) => {
      const session = new FakeSession(ws, claims.userId, claims.deviceId, `fake-${this.#nextNode++}`);
      this.sessions.push(session);
      ws.on('message', (data: Buffer) => this.#onFrame(session, decode(data, { useBigInt64: true }) as Frame));
      if (!this.sendWelcome) return;
      const epoch = this.epoch;
      const fallback = this.fallbackOffer(session);
      session.send({ t: 'welcome', connectionId: session.connectionId, node: session.node, ...(epoch !== undefined && { epoch }), ...(fallback !== undefined && { fallback }) });
      const user = this.#user(claims.userId);
      for (const [commandId, c] of user.commands) {
        if (c.toDevice === claims.deviceId) session.send({ t: 'command', commandId, fromDevice: c.fromDevice, body: c.body });
      }
    });
  }

  #user(userId: string): UserData {
    let user = this.#users.get(userId);
    if (!user) this.#users.set(userId, (user = { rev: 0, collections: new Map(), commands: new Map() }));
    return user;
  }

  #collection(user: UserData, name: string): Map<string, StoredRecord> {
    let c = user.collections.get(name);
    if (!c) user.collections.set(name, (c = new Map()));
    return c;
  }

  #live(userId: string): FakeSession[] {
    return this.sessions.filter((s) => s.userId === userId && s.open);
  }

  #onFrame(session: FakeSession, frame: Frame): void {
    session.frames.push(frame);
    if (!this.answerRequests && frame.t !== 'ack') return;
    const user = this.#user(session.userId);
    const id = frame.id;
    if (this.rateLimitNext > 0 && frame.t !== 'ack') {
      this.rateLimitNext--;
      session.send({ t: 'error', id, code: 'rate_limited', message: 'too many frames: at most 100 per second (burst 200)' });
      return;
    }
    if (this.errorFor?.t === frame.t) {
      const { code, message } = this.errorFor;
      this.errorFor = undefined;
      session.send({ t: 'error', id, code, message });
      return;
    }
    switch (frame.t) {
      case 'commit': {
        const txid = typeof frame.txid === 'string' ? `${session.userId}\0${frame.txid}` : undefined;
        const seen = txid === undefined ? undefined : this.#txids.get(txid);
        if (seen) {
          session.send({ t: 'committed', id, ...seen });
          return;
        }
        const collection = this.#collection(user, frame.collection as string);
        const changes = frame.changes as Array<{ key: string; value?: unknown; deleted?: boolean; base?: number }>;
        // Like the real store: each change is its own write with its own rev; the answer names the highest.
        const conflicts = changes.filter((c) => c.base !== undefined && (collection.get(c.key)?.rev ?? 0) !== Number(c.base));
        let rev = 0;
        for (const c of changes) {
          if (conflicts.includes(c)) continue;
          rev = ++user.rev;
          collection.set(c.key, c.deleted ? { rev, deleted: true } : { rev, value: c.value });
        }
        if (rev === 0) rev = Math.max(0, ...[...collection.values()].map((r) => r.rev));
        this.commitsApplied++;
        const answer = { rev, conflicts: conflicts.map((c) => ({ key: c.key, ...(collection.get(c.key) ?? { rev: 0, deleted: true }) })) };
        if (txid !== undefined) this.#txids.set(txid, answer);
        if (this.loseNextCommitAnswer) {
          this.loseNextCommitAnswer = false;
          session.ws.terminate();
        } else session.send({ t: 'committed', id, ...answer });
        for (const s of this.#live(session.userId)) if (s !== session) s.send({ t: 'sync', collection: frame.collection as string, rev });
        return;
      }
      case 'pull': {
        const since = Number(frame.since);
        this.pulls.push({ collection: frame.collection as string, since });
        const all = [...this.#collection(user, frame.collection as string)].filter(([, r]) => r.rev > since).sort((a, b) => a[1].rev - b[1].rev);
        const page = all.slice(0, this.#opts.pageSize);
        const more = all.length > page.length;
        // Like the real store: `since` when nothing changed, else the rev of the last change returned.
        const rev = page.length > 0 ? page.at(-1)![1].rev : since;
        session.send({ t: 'changes', id, collection: frame.collection as string, rev, more, changes: page.map(([key, r]) => ({ key, ...r })) });
        return;
      }
      case 'send': {
        const commandId = `cmd-${this.#nextCommand++}`;
        const command = { toDevice: frame.toDevice as string, fromDevice: session.deviceId, body: frame.body };
        user.commands.set(commandId, command);
        session.send({ t: 'sent', id, commandId });
        for (const s of this.#live(session.userId)) {
          if (s.deviceId === command.toDevice) s.send({ t: 'command', commandId, fromDevice: command.fromDevice, body: command.body });
        }
        return;
      }
      case 'ack': {
        const command = user.commands.get(frame.commandId as string);
        if (!command) return;
        user.commands.delete(frame.commandId as string);
        for (const s of this.#live(session.userId)) if (s.deviceId === command.fromDevice) s.send({ t: 'delivered', commandId: frame.commandId });
        return;
      }
      default:
        session.send({ t: 'error', id, code: 'bad_frame', message: `unknown frame type ${String(frame.t)}` });
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    for (const s of this.sessions) s.ws.terminate();
    this.#wss.close();
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}

/** Waits until `check` returns a value that is not undefined/false, or fails after `timeoutMs`. */
export async function waitFor<T>(what: string, check: () => T | undefined | false, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
