/**
 * The connection quota (SocketServerOptions.maxConnectionsPerUser), counted across the cluster with
 * nothing stored.
 *
 * Each user key has an **owner**: the socket server (a live member with role `socket` that announces a
 * listening server) that wins the key by rendezvous hashing; every node computes the same winner from
 * the same membership. The owner keeps the user's live connections in memory (connection-counts.ts)
 * and answers on `<prefix>.quota.<ownerNodeId>` (MessagePack):
 *
 *   {t:"admit", u:userKey, d:deviceKey, n:node, a:admission, m:max}  -> {ok: boolean}
 *   {t:"admits", n:node, e:[[u, d, a, m], ...]}                       -> {ok: [boolean, ...]} (in order)
 *   {t:"leave", u, d, n, a}                                          (no answer)
 *   {t:"refresh", n:node, e:[[u, d, a], ...]}                        (no answer)
 *
 * Admissions to one owner within one turn of the event loop go as one `admits` request (up to BATCH):
 * a reconnect storm opens sockets by the hundred per turn, and one request each was a NATS message and
 * answer per connect on both nodes and nats-server. A single admission goes as `admit`, which every
 * version answers; `admits` goes only to owners that announce they take it (meta `quotaBatch: 1`), so a
 * rolling upgrade loses nothing.
 *
 * Every node reports the connections it counts to their owners every REFRESH_MS, and soon after the
 * set of socket servers changes (so that a new owner learns them). Owners drop the entries of nodes
 * that are gone, those not refreshed for ENTRY_TTL_MS (a lost `leave`), and the users they no longer own.
 *
 * Cost: no JetStream; one NATS request per owner per turn of the loop that opened sockets of its users
 * (none when this node owns the user), one publish per close, one refresh message per owner every
 * REFRESH_MS.
 *
 * What it guarantees: at most `max` devices of a user are admitted while the set of socket servers
 * holds. When it changes, a user's new owner knows only what arrives after the change until the
 * refreshes land (about a second), so a user may get a few more devices in then. An owner that cannot
 * be asked (it just died, NATS is down) lets the client in: the count is a limit, not a gate of
 * correctness.
 */
import type { Msg, NatsConnection, Subscription } from '@nats-io/nats-core';
import { readSocketMeta, SOCKET_ROLE } from '../../protocol/cluster/mod.js';
import { decode, encode, isMap, toSafeInteger } from '../../protocol/mod.js';
import { JetStreamRequests, pickByRendezvous, type ActorNode } from '../../runtime/mod.js';
import { ConnectionCounts, type CountedConnection } from './connection-counts.js';

/** How often a node reports its counted connections to their owners. */
export const REFRESH_MS = 15_000;
/** An entry nobody refreshed for this long is dropped. */
export const ENTRY_TTL_MS = 3 * REFRESH_MS;
/** How long an admission waits for the owner's answer before letting the client in. */
const ASK_TIMEOUT_MS = 2_000;
/** After the set of socket servers changed: wait for membership to settle, then refresh. */
const SETTLE_MS = 500;
/** Entries per refresh or `admits` message (about 50 bytes each). */
const BATCH = 1_000;
/** The member meta key of a socket node whose quota owner answers `admits`. */
export const QUOTA_BATCH_META = 'quotaBatch';

/** An admission waiting for its batch to go to the owner. */
interface Waiting {
  readonly entry: [string, string, number, number];
  readonly resolve: (ok: boolean) => void;
  readonly reject: (err: unknown) => void;
}

export class UserQuota {
  readonly #node: ActorNode;
  readonly #nc: NatsConnection;
  readonly #prefix: string;
  readonly #counted: () => readonly CountedConnection[];
  readonly #counts = new ConnectionCounts(ENTRY_TTL_MS);
  #owners: { id: string; weight: number }[] = [];
  /** Owners that answer `admits`. */
  #batching = new Set<string>();
  #ownerKey = '';
  /** Admissions for other owners gathered in this turn of the loop, by owner. */
  #gathering = new Map<string, Waiting[]>();
  #flush: NodeJS.Immediate | undefined;
  #sub: Subscription | undefined;
  /**
   * Questions to other owners over one reply subscription (plain NATS requests, not JetStream ones:
   * JetStreamRequests.request is the generic part). nats.js's `request()` built an Error with a stack
   * for each answered request, one per connect: 2-3% of a survivor's CPU in a reconnect storm.
   */
  #requests: JetStreamRequests | undefined;
  #timer: NodeJS.Timeout | undefined;
  #settle: NodeJS.Timeout | undefined;
  #offMembership: (() => void) | undefined;

  /** `counted` lists the connections this node counts now (for the refreshes). */
  constructor(node: ActorNode, prefix: string, counted: () => readonly CountedConnection[]) {
    this.#node = node;
    this.#nc = node.nats;
    this.#prefix = prefix;
    this.#counted = counted;
  }

  /** Answers as an owner and starts the refreshes. */
  start(): void {
    this.#sub = this.#nc.subscribe(this.#subject(this.#node.id), { callback: (err, msg) => this.#onMessage(err, msg) });
    this.#requests = new JetStreamRequests(this.#nc);
    this.#updateOwners();
    this.#timer = setInterval(() => this.#refresh(), REFRESH_MS);
    this.#timer.unref();
    this.#offMembership = this.#node.onMembership(() => {
      if (!this.#updateOwners() || this.#settle !== undefined) return;
      this.#settle = setTimeout(() => {
        this.#settle = undefined;
        this.#updateOwners();
        this.#refresh();
      }, SETTLE_MS);
      this.#settle.unref();
    });
  }

  stop(): void {
    if (this.#flush !== undefined) clearImmediate(this.#flush);
    this.#flush = undefined;
    const gathered = [...this.#gathering.values()].flat();
    this.#gathering.clear();
    for (const w of gathered) w.reject(new Error('the connection quota stopped'));
    this.#sub?.unsubscribe();
    this.#sub = undefined;
    this.#requests?.close();
    this.#requests = undefined;
    clearInterval(this.#timer);
    clearTimeout(this.#settle);
    this.#offMembership?.();
  }

  /** Connections this node counts as an owner (every user it owns, every node). */
  get owned(): number {
    return this.#counts.size;
  }

  /**
   * Counts (userKey, deviceKey) unless the user has `max` other devices live; resolves with whether it
   * was admitted. Rejects when the owner could not be asked (the caller then admits).
   */
  async admit(userKey: string, deviceKey: string, admission: number, max: number): Promise<boolean> {
    const owner = this.#owner(userKey);
    const self = this.#node.id;
    if (owner === self) return this.#counts.admit(userKey, deviceKey, self, admission, max, this.#liveness, Date.now());
    if (this.#requests === undefined) throw new Error('the connection quota is not started');
    return new Promise<boolean>((resolve, reject) => {
      let list = this.#gathering.get(owner);
      if (list === undefined) this.#gathering.set(owner, (list = []));
      list.push({ entry: [userKey, deviceKey, admission, max], resolve, reject });
      this.#flush ??= setImmediate(() => this.#send());
    });
  }

  /**
   * The admissions gathered this turn go to their owners: one `admits` request per owner and BATCH, or
   * one `admit` each to an owner that does not take `admits` (and for a lone admission).
   */
  #send(): void {
    this.#flush = undefined;
    const gathered = this.#gathering;
    this.#gathering = new Map();
    for (const [owner, list] of gathered) {
      if (list.length === 1 || !this.#batching.has(owner)) {
        for (const w of list) this.#askOne(owner, w).then(w.resolve, w.reject);
        continue;
      }
      for (let i = 0; i < list.length; i += BATCH) {
        const chunk = list.slice(i, i + BATCH);
        this.#askMany(owner, chunk).then(
          (oks) => chunk.forEach((w, k) => w.resolve(oks[k]!)),
          (err: unknown) => chunk.forEach((w) => w.reject(err)),
        );
      }
    }
  }

  async #askOne(owner: string, { entry: [u, d, a, m] }: Waiting): Promise<boolean> {
    const answer = await this.#started().request(this.#subject(owner), encode({ t: 'admit', u, d, n: this.#node.id, a, m }), ASK_TIMEOUT_MS);
    const v = decode(answer.data);
    if (!isMap(v) || typeof v['ok'] !== 'boolean') throw new Error(`the quota owner ${owner} answered something else than {ok}`);
    return v['ok'];
  }

  async #askMany(owner: string, chunk: readonly Waiting[]): Promise<boolean[]> {
    const answer = await this.#started().request(this.#subject(owner), encode({ t: 'admits', n: this.#node.id, e: chunk.map((w) => w.entry) }), ASK_TIMEOUT_MS);
    const v = decode(answer.data);
    const ok = isMap(v) ? v['ok'] : undefined;
    if (!Array.isArray(ok) || ok.length !== chunk.length || !ok.every((x) => typeof x === 'boolean')) {
      throw new Error(`the quota owner ${owner} answered ${chunk.length} admissions with something else than {ok: [${chunk.length} booleans]}`);
    }
    return ok as boolean[];
  }

  #started(): JetStreamRequests {
    if (this.#requests === undefined) throw new Error('the connection quota is not started');
    return this.#requests;
  }

  /** Uncounts a connection admitted under `admission` (best effort: entries expire anyway). */
  leave(userKey: string, deviceKey: string, admission: number): void {
    const owner = this.#owner(userKey);
    const self = this.#node.id;
    if (owner === self) {
      this.#counts.leave(userKey, deviceKey, self, admission);
      return;
    }
    try {
      this.#nc.publish(this.#subject(owner), encode({ t: 'leave', u: userKey, d: deviceKey, n: self, a: admission }));
    } catch (err) {
      this.#node.logger.debug({ err, userKey }, 'could not uncount a connection; its entry expires');
    }
  }

  #subject(node: string): string {
    return `${this.#prefix}.quota.${node}`;
  }

  /** The socket servers that own users: recomputed from membership; true when the set changed. */
  #updateOwners(): boolean {
    const members = this.#node.members().filter((m) => m.roles.includes(SOCKET_ROLE) && readSocketMeta(m.meta) !== undefined);
    this.#batching = new Set(members.filter((m) => m.meta[QUOTA_BATCH_META] === 1).map((m) => m.nodeId));
    const ids = members.map((m) => m.nodeId).sort();
    if (!ids.includes(this.#node.id)) ids.push(this.#node.id); // this node answers as soon as it starts
    const key = ids.join(' ');
    if (key === this.#ownerKey) return false;
    this.#ownerKey = key;
    this.#owners = ids.map((id) => ({ id, weight: 1 }));
    return true;
  }

  #owner(userKey: string): string {
    return pickByRendezvous(userKey, this.#owners) ?? this.#node.id;
  }

  /** Whether a counting node is live (its entries are dropped when it is not). */
  readonly #liveness = (n: string): boolean => this.#node.isLive(n);

  /** Reports this node's counted connections to their owners; drops what we hold but do not own. */
  #refresh(): void {
    const self = this.#node.id;
    const now = Date.now();
    this.#counts.expire(now, (u) => this.#owner(u) === self);
    const byOwner = new Map<string, CountedConnection[]>();
    for (const c of this.#counted()) {
      const owner = this.#owner(c.userKey);
      let list = byOwner.get(owner);
      if (list === undefined) byOwner.set(owner, (list = []));
      list.push(c);
    }
    for (const [owner, list] of byOwner) {
      if (owner === self) {
        this.#counts.refresh(self, list, now);
        continue;
      }
      try {
        for (let i = 0; i < list.length; i += BATCH) {
          const e = list.slice(i, i + BATCH).map((c) => [c.userKey, c.deviceKey, c.admission]);
          this.#nc.publish(this.#subject(owner), encode({ t: 'refresh', n: self, e }));
        }
      } catch (err) {
        this.#node.logger.debug({ err, owner }, 'could not refresh the connection counts; the next refresh does');
      }
    }
  }

  #onMessage(err: Error | null, msg: Msg): void {
    if (err !== null) return;
    let v: unknown;
    try {
      v = decode(msg.data);
    } catch {
      return;
    }
    if (!isMap(v) || typeof v['n'] !== 'string') return;
    const node = v['n'];
    const now = Date.now();
    const u = v['u'];
    const d = v['d'];
    const a = toSafeInteger(v['a']);
    switch (v['t']) {
      case 'admit': {
        const max = toSafeInteger(v['m']);
        if (typeof u !== 'string' || typeof d !== 'string' || a === undefined || max === undefined) return;
        const ok = this.#counts.admit(u, d, node, a, max, this.#liveness, now);
        if (msg.reply) msg.respond(encode({ ok }));
        return;
      }
      case 'admits': {
        const e = v['e'];
        if (!Array.isArray(e) || e.length > BATCH) return;
        const ok: boolean[] = [];
        for (const x of e) {
          const admission = Array.isArray(x) ? toSafeInteger(x[2]) : undefined;
          const max = Array.isArray(x) ? toSafeInteger(x[3]) : undefined;
          // A malformed entry is not counted and not refused: its node lets it in, as when no owner answers.
          ok.push(Array.isArray(x) && typeof x[0] === 'string' && typeof x[1] === 'string' && admission !== undefined && max !== undefined ? this.#counts.admit(x[0], x[1], node, admission, max, this.#liveness, now) : true);
        }
        if (msg.reply) msg.respond(encode({ ok }));
        return;
      }
      case 'leave':
        if (typeof u === 'string' && typeof d === 'string' && a !== undefined) this.#counts.leave(u, d, node, a);
        return;
      case 'refresh': {
        const e = v['e'];
        if (!Array.isArray(e)) return;
        const list: CountedConnection[] = [];
        for (const x of e) {
          if (!Array.isArray(x) || typeof x[0] !== 'string' || typeof x[1] !== 'string') continue;
          const admission = toSafeInteger(x[2]);
          if (admission !== undefined) list.push({ userKey: x[0], deviceKey: x[1], admission });
        }
        this.#counts.refresh(node, list, now);
        return;
      }
    }
  }
}
