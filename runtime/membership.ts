/**
 * Cluster membership by heartbeats on `<prefix>.node.hb`.
 *
 * Every node publishes its MemberInfo there every heartbeatMs. A starting node publishes a `hello`
 * as a request: every member answers at once with its info (and records the newcomer), so after a
 * short discovery round (done when answers stop coming for a few ms) the newcomer knows the
 * cluster. A member silent for downAfterMs is `down` (reason `timeout`); a `leave` makes it `down`
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
  subject: string;
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
  /** When this node last received its own heartbeat (proof that NATS carries our messages). */
  lastEcho = 0;

  constructor(private readonly o: MembershipOptions) {
    const s = o.self;
    this.self = { nodeId: s.nodeId, roles: [...s.roles], kinds: [...s.kinds], meta: { ...s.meta }, draining: false, startedAt: s.startedAt };
  }

  /** Joins: subscribes, runs the discovery round, starts heartbeats and down detection. */
  async start(discoveryMs = 150): Promise<void> {
    const { nc, subject } = this.o;
    this.sub = nc.subscribe(subject, { callback: (err, msg) => (err ? undefined : this.onHeartbeat(msg.data, msg.reply)) });
    try {
      const answers = await nc.requestMany(subject, this.bytes('hello'), { strategy: 'stall', maxWait: discoveryMs, stall: 40 });
      for await (const m of answers) this.onHeartbeat(m.data, undefined);
    } catch (err) {
      // "no responders" just means we are alone; anything else is worth a line, not a failure.
      if (!/no responders|503/i.test(String((err as Error)?.message ?? err))) this.o.logger.debug({ err }, 'membership discovery ended early');
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
    if (this.hbTimer !== undefined) this.o.clock.clearInterval(this.hbTimer);
    if (this.checkTimer !== undefined) this.o.clock.clearInterval(this.checkTimer);
    this.sub?.unsubscribe();
  }

  private bytes(t: Heartbeat['t']): Uint8Array {
    const s = this.self;
    return encode({ t, id: s.nodeId, roles: s.roles, kinds: s.kinds, meta: s.meta, draining: s.draining, startedAt: s.startedAt });
  }

  private publish(t: Heartbeat['t']): void {
    if (this.closed || this.o.nc.isClosed()) return;
    try {
      this.o.nc.publish(this.o.subject, this.bytes(t));
    } catch (err) {
      this.o.logger.warn({ err }, 'could not publish heartbeat; NATS connection problem');
    }
  }

  private onHeartbeat(data: Uint8Array, replyTo: string | undefined): void {
    if (this.closed) return;
    const hb = readHeartbeat(data);
    if (!hb) {
      this.o.onBadMessage();
      return;
    }
    const info = hb.info;
    if (info.nodeId === this.self.nodeId) {
      if (info.startedAt === this.self.startedAt) {
        this.lastEcho = this.o.clock.now();
        this.o.onOwnEcho?.();
      } else {
        this.o.logger.error({ other: info.startedAt }, `another process uses node id ${info.nodeId}; give every node a unique id`);
      }
      return;
    }
    if (hb.t === 'leave') {
      const known = this.others.get(info.nodeId);
      if (known) {
        this.others.delete(info.nodeId);
        this.emit({ type: 'down', member: known, reason: 'left' });
      }
      return;
    }
    if (hb.t === 'hello' && replyTo) {
      try {
        this.o.nc.publish(replyTo, this.bytes('hb'));
      } catch (err) {
        this.o.logger.debug({ err }, 'could not answer hello');
      }
    }
    const now = this.o.clock.now();
    const known = this.others.get(info.nodeId);
    const member: MemberInfo = { ...info, lastSeen: now };
    if (known && known.startedAt !== info.startedAt) {
      // Restarted under the same id: its actors are gone.
      this.others.delete(info.nodeId);
      this.emit({ type: 'down', member: known, reason: 'timeout' });
      this.others.set(info.nodeId, member);
      this.emit({ type: 'up', member });
      return;
    }
    this.others.set(info.nodeId, member);
    if (!known) this.emit({ type: 'up', member });
    else if (!sameInfo(known, info)) this.emit({ type: 'updated', member });
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
    for (const l of this.listeners) {
      try {
        l(e);
      } catch (err) {
        this.o.logger.error({ err, event: e.type }, 'membership listener threw');
      }
    }
  }
}
