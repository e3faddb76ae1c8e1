/**
 * Cluster membership by heartbeats on `<prefix>.hb.<roles>`.
 *
 * Every node publishes its MemberInfo every heartbeatMs on the subject of its role set
 * ({@link roleToken}: its roles sorted and joined with `+`, `_` for none), and listens on
 * `<prefix>.hb.*`. A heartbeat whose roles differ from its subject's is dropped: the subject is what
 * NATS permissions can restrict, so a NATS user allowed to publish only on `sm.hb.push` cannot make
 * itself a socket node in anyone's membership (docs/security.md, "NATS accounts and permissions").
 *
 * A starting node publishes a `hello`: every member answers at once with a heartbeat on its own
 * subject (and records the newcomer), so after a short discovery round (done when heartbeats stop
 * coming for a few ms) the newcomer knows the cluster. Answers are heartbeats, not replies to an
 * inbox, so they pass the same subject check. A member silent for downAfterMs is `down` (reason `timeout`); a `leave` makes it `down`
 * at once (reason `left`). A member that comes back with a new startedAt (a restart under the same
 * id) is reported down, then up.
 *
 * Heartbeat wire format (MessagePack map): {t: 'hb'|'hello'|'leave', id, roles, kinds, meta,
 * draining, startedAt}.
 */
import type { NatsConnection, Subscription } from '@nats-io/nats-core';
import type { Logger } from 'pino';
import type { Clock, TimerHandle } from './clock.js';
import { decode, encode, toSafeInteger } from './codec.js';
import { NODE_ID_PATTERN } from './envelope.js';
import type { MemberInfo, MembershipEvent } from './types.js';

type Meta = Record<string, string | number | boolean>;

export interface MembershipOptions {
  nc: NatsConnection;
  /** `<prefix>.hb`: heartbeats go to `<subjectBase>.<roleToken(roles)>`. */
  subjectBase: string;
  self: { nodeId: string; roles: readonly string[]; kinds: readonly string[]; meta: Meta; startedAt: number };
  heartbeatMs: number;
  downAfterMs: number;
  clock: Clock;
  logger: Logger;
  onBadMessage: () => void;
  /** This node's own heartbeat came back from NATS: the connection works. */
  onOwnEcho?: () => void;
}

const MAX_LIST = 256;

/** Role names are subject tokens: letters, digits, `_` and `-`. */
export const ROLE_PATTERN = /^[A-Za-z0-9_-]{1,32}$/;

/** The subject token of a role set: roles sorted, unique, joined with `+`; `_` for none. */
export function roleToken(roles: readonly string[]): string {
  return roles.length === 0 ? '_' : [...new Set(roles)].sort().join('+');
}

function stringList(v: unknown): string[] | undefined {
  if (!Array.isArray(v) || v.length > MAX_LIST) return undefined;
  for (const s of v) if (typeof s !== 'string' || s.length > 128) return undefined;
  return v as string[];
}

function metaOf(v: unknown): Meta | undefined {
  if (v == null) return {};
  if (typeof v !== 'object' || Array.isArray(v)) return undefined;
  const out: Meta = {};
  let n = 0;
  for (const [k, val] of Object.entries(v as Record<string, unknown>)) {
    if (++n > MAX_LIST) return undefined;
    if (typeof val === 'string' || typeof val === 'boolean' || (typeof val === 'number' && Number.isFinite(val))) out[k] = val;
    else if (typeof val === 'bigint') {
      const i = toSafeInteger(val);
      if (i !== undefined) out[k] = i;
    }
  }
  return out;
}

interface Heartbeat {
  t: 'hb' | 'hello' | 'leave';
  info: Omit<MemberInfo, 'lastSeen'>;
}

function readHeartbeat(data: Uint8Array): Heartbeat | undefined {
  let raw: unknown;
  try {
    raw = decode(data);
  } catch {
    return undefined;
  }
  if (typeof raw !== 'object' || raw === null) return undefined;
  const r = raw as Record<string, unknown>;
  const t = r['t'];
  if (t !== 'hb' && t !== 'hello' && t !== 'leave') return undefined;
  const id = r['id'];
  const roles = stringList(r['roles']);
  const kinds = stringList(r['kinds']);
  const meta = metaOf(r['meta']);
  const startedAt = toSafeInteger(r['startedAt']);
  if (typeof id !== 'string' || !NODE_ID_PATTERN.test(id) || !roles || !kinds || !meta || startedAt === undefined) return undefined;
  return { t, info: { nodeId: id, roles, kinds, meta, draining: r['draining'] === true, startedAt } };
}

function sameInfo(a: Omit<MemberInfo, 'lastSeen'>, b: Omit<MemberInfo, 'lastSeen'>): boolean {
  if (a.draining !== b.draining || a.roles.length !== b.roles.length || a.kinds.length !== b.kinds.length) return false;
  for (let i = 0; i < a.roles.length; i++) if (a.roles[i] !== b.roles[i]) return false;
  for (let i = 0; i < a.kinds.length; i++) if (a.kinds[i] !== b.kinds[i]) return false;
  const ak = Object.keys(a.meta);
  if (ak.length !== Object.keys(b.meta).length) return false;
  for (const k of ak) if (a.meta[k] !== b.meta[k]) return false;
  return true;
}

export class Membership {
  private readonly others = new Map<string, MemberInfo>();
  private readonly listeners = new Set<(e: MembershipEvent) => void>();
  private self: Omit<MemberInfo, 'lastSeen'>;
  private sub: Subscription | undefined;
  private hbTimer: TimerHandle | undefined;
  private checkTimer: TimerHandle | undefined;
  private lastCheck = 0;
  private closed = false;
  private lastForgedLog = 0;
  /** When this node last received its own heartbeat (proof that NATS carries our messages). */
  lastEcho = 0;
  /** When this node began to listen for heartbeats (0: not yet). */
  private listeningSince = 0;
  /** Waiting to hear of a node this node does not know yet (see {@link heardOf}). */
  private readonly unheard = new Map<string, (() => void)[]>();
  /** Members this node saw go down (and not come back): no need to wait to hear of them. */
  private readonly gone = new Set<string>();
  private settleTimer: TimerHandle | undefined;

  constructor(private readonly o: MembershipOptions) {
    const s = o.self;
    this.self = { nodeId: s.nodeId, roles: [...s.roles], kinds: [...s.kinds], meta: { ...s.meta }, draining: false, startedAt: s.startedAt };
  }

  /** Joins: subscribes, runs the discovery round, starts heartbeats and down detection. */
  async start(discoveryMs = 150, stallMs = 40): Promise<void> {
    const { nc, subjectBase } = this.o;
    let lastNews = Date.now();
    this.listeningSince = this.o.clock.now();
    this.sub = nc.subscribe(`${subjectBase}.*`, {
      callback: (err, msg) => {
        if (err || !this.onHeartbeat(msg.data, msg.subject)) return;
        lastNews = Date.now();
      },
    });
    // Discovery: members answer the hello with a heartbeat each; done when they stop coming.
    const began = Date.now();
    this.publish('hello');
    await nc.flush().catch(() => undefined);
    lastNews = Math.max(lastNews, Date.now());
    while (Date.now() - began < discoveryMs && Date.now() - lastNews < stallMs) {
      await new Promise((r) => setTimeout(r, 5));
    }
    const clock = this.o.clock;
    this.hbTimer = clock.setInterval(() => this.publish('hb'), this.o.heartbeatMs);
    const checkEvery = Math.max(10, Math.min(this.o.heartbeatMs, Math.floor(this.o.downAfterMs / 4)));
    this.lastCheck = clock.now();
    this.checkTimer = clock.setInterval(() => this.checkSilence(), checkEvery);
  }

  get selfInfo(): MemberInfo {
    return { ...this.self, lastSeen: this.o.clock.now() };
  }

  /** Live members, this node first. */
  members(): MemberInfo[] {
    return [this.selfInfo, ...this.others.values()];
  }

  /** The live member `nodeId` (this node included), or undefined. */
  member(nodeId: string): MemberInfo | undefined {
    return nodeId === this.self.nodeId ? this.selfInfo : this.others.get(nodeId);
  }

  isLive(nodeId: string): boolean {
    return nodeId === this.self.nodeId || this.others.has(nodeId);
  }

  get size(): number {
    return this.others.size + 1;
  }

  /**
   * Whether this node can judge `nodeId` by `isLive` yet: undefined when it can (the node is live,
   * or this node has listened for heartbeats for downAfterMs, long enough to have heard every live
   * member), else a promise that settles when its heartbeat arrives or when that time is reached.
   *
   * A node that has just joined knows only the members that answered its discovery round in time; a
   * live member busy for a moment answers later. Calling it gone then would take its activation
   * leases from under it, and two activations would run side by side.
   */
  heardOf(nodeId: string): Promise<void> | undefined {
    if (this.isLive(nodeId) || this.gone.has(nodeId) || this.closed) return undefined;
    const left = this.listeningSince === 0 ? this.o.downAfterMs : this.listeningSince + this.o.downAfterMs - this.o.clock.now();
    if (left <= 0) return undefined;
    return new Promise<void>((resolve) => {
      const waiting = this.unheard.get(nodeId);
      if (waiting === undefined) this.unheard.set(nodeId, [resolve]);
      else waiting.push(resolve);
      this.settleTimer ??= this.o.clock.setTimeout(() => this.settleUnheard(), left);
    });
  }

  /** Listened for downAfterMs: whoever was not heard of is gone. */
  private settleUnheard(): void {
    this.settleTimer = undefined;
    const all = [...this.unheard.values()];
    this.unheard.clear();
    for (const waiting of all) for (const resolve of waiting) resolve();
  }

  private heard(nodeId: string): void {
    const waiting = this.unheard.get(nodeId);
    if (waiting === undefined) return;
    this.unheard.delete(nodeId);
    for (const resolve of waiting) resolve();
  }

  subscribe(listener: (e: MembershipEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Changes what this node announces and publishes it at once. */
  announce(update: { meta?: Meta; draining?: boolean }): void {
    this.self = {
      ...this.self,
      meta: update.meta ? { ...this.self.meta, ...update.meta } : this.self.meta,
      draining: update.draining ?? this.self.draining,
    };
    this.publish('hb');
    this.emit({ type: 'updated', member: this.selfInfo });
  }

  /** Says goodbye (a `leave`) and stops. */
  async leave(): Promise<void> {
    if (this.closed) return;
    this.publish('leave');
    this.stop();
    await this.o.nc.flush().catch(() => undefined);
  }

  /** Stops timers and the subscription without a goodbye. */
  stop(): void {
    this.closed = true;
    if (this.settleTimer !== undefined) this.o.clock.clearTimeout(this.settleTimer);
    this.settleUnheard();
    if (this.hbTimer !== undefined) this.o.clock.clearInterval(this.hbTimer);
    if (this.checkTimer !== undefined) this.o.clock.clearInterval(this.checkTimer);
    this.sub?.unsubscribe();
  }

  private bytes(t: Heartbeat['t']): Uint8Array {
    const s = this.self;
    return encode({ t, id: s.nodeId, roles: s.roles, kinds: s.kinds, meta: s.meta, draining: s.draining, startedAt: s.startedAt });
  }

  private get subject(): string {
    return `${this.o.subjectBase}.${roleToken(this.self.roles)}`;
  }

  private publish(t: Heartbeat['t']): void {
    if (this.closed || this.o.nc.isClosed()) return;
    try {
      this.o.nc.publish(this.subject, this.bytes(t));
    } catch (err) {
      this.o.logger.warn({ err }, 'could not publish heartbeat; NATS connection problem');
    }
  }

  /** Handles one heartbeat; true when it told something about another member. */
  private onHeartbeat(data: Uint8Array, subject: string): boolean {
    if (this.closed) return false;
    const hb = readHeartbeat(data);
    if (!hb) {
      this.o.onBadMessage();
      return false;
    }
    const info = hb.info;
    const token = subject.slice(subject.lastIndexOf('.') + 1);
    // The roles must be the subject's, and a known member's roles never change: otherwise a user
    // allowed one role could speak for (or say goodbye for) a member of another role.
    const known = this.others.get(info.nodeId);
    const knownRoles = info.nodeId === this.self.nodeId ? this.self.roles : known?.roles;
    if (token !== roleToken(info.roles) || (knownRoles !== undefined && roleToken(knownRoles) !== token)) {
      // Only NATS permissions on the subject vouch for roles: a mismatch is forged or misconfigured.
      this.o.onBadMessage();
      const now = Date.now();
      if (now - this.lastForgedLog > 5_000) {
        this.lastForgedLog = now; // a flood of them must not flood the log
        this.o.logger.warn({ claimed: info.nodeId, roles: info.roles, subject }, 'heartbeat ignored: its roles differ from its subject or from the roles that node id has (forged, or a node of another version)');
      }
      return false;
    }
    if (info.nodeId === this.self.nodeId) {
      if (info.startedAt === this.self.startedAt) {
        this.lastEcho = this.o.clock.now();
        this.o.onOwnEcho?.();
      } else {
        this.o.logger.error({ other: info.startedAt }, `another process uses node id ${info.nodeId}; give every node a unique id`);
      }
      return false;
    }
    if (hb.t === 'leave') {
      if (known) {
        this.others.delete(info.nodeId);
        this.emit({ type: 'down', member: known, reason: 'left' });
      }
      return true;
    }
    // A newcomer: answer on our own subject, so it learns of us (and the answer passes its check).
    if (hb.t === 'hello') this.publish('hb');
    const now = this.o.clock.now();
    const member: MemberInfo = { ...info, lastSeen: now };
    if (known && known.startedAt !== info.startedAt) {
      // Restarted under the same id: its actors are gone.
      this.others.delete(info.nodeId);
      this.emit({ type: 'down', member: known, reason: 'timeout' });
      this.others.set(info.nodeId, member);
      this.emit({ type: 'up', member });
      return true;
    }
    this.others.set(info.nodeId, member);
    if (!known) {
      this.emit({ type: 'up', member });
      this.heard(info.nodeId);
    }
    else if (!sameInfo(known, info)) this.emit({ type: 'updated', member });
    return !known;
  }

  /** Members silent for downAfterMs are down (exposed for unit tests with a hand-driven clock). */
  checkSilence(): void {
    const now = this.o.clock.now();
    const gap = now - this.lastCheck;
    this.lastCheck = now;
    // This node itself did not run for a while (paused, blocked): the others' heartbeats of that
    // time wait unread in its socket. Judging now would call every member down; judge next round.
    if (gap > this.o.downAfterMs / 2) return;
    for (const m of this.others.values()) {
      if (now - m.lastSeen > this.o.downAfterMs) {
        this.others.delete(m.nodeId);
        this.emit({ type: 'down', member: m, reason: 'timeout' });
      }
    }
  }

  private emit(e: MembershipEvent): void {
    if (e.type === 'down') this.gone.add(e.member.nodeId);
    else if (e.type === 'up') this.gone.delete(e.member.nodeId);
    for (const l of this.listeners) {
      try {
        l(e);
      } catch (err) {
        this.o.logger.error({ err, event: e.type }, 'membership listener threw');
      }
    }
  }
}
