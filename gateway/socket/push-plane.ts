/**
 * The push plane of a socket node: NATS subscriptions in, session events out.
 *
 * Subjects (protocol/cluster/push.ts): `<prefix>.push.<slot>.<userKey>.<deviceKey>` (one connection)
 * and `<prefix>.push.all`. The node subscribes once to `<prefix>.push.all` and once per push slot it
 * holds connections of (`<prefix>.push.<slot>.>`, see Hub). Every subscription shares one callback; the
 * subject says which connection it is for, and a slot's messages for connections held elsewhere are
 * dropped after one map look-up, before decoding.
 *
 * Rules, checked for every connection (PushEnvelope): a device push is delivered only to the session
 * of that connection id whose userId equals the envelope's `userId` (an 80-bit user-key collision costs
 * a message, never a leak), never to `except`. A push without `userId` is delivered only from
 * `<prefix>.push.all`. Fence controls (fence.ts) arrive on device subjects and go to the session
 * claims (claims.ts): a newer claim replaces the session, an older one is answered.
 */
import type { Msg, NatsConnection, Subscription } from '@nats-io/nats-core';
import type { Logger } from 'pino';
import { pushSubjects } from '../../protocol/cluster/mod.js';
import { decode, encode, isMap } from '../../protocol/mod.js';
import type { SessionClaims } from './claims.js';
import type { Connection } from './connection.js';
import { readFenceControl } from './fence.js';
import type { Hub } from './hub.js';
import type { SocketObserver } from './options.js';

/** Counters the server reports. */
export interface PushPlaneCounters {
  delivered: number;
  badEnvelopes: number;
}

export class PushPlane {
  readonly counters: PushPlaneCounters = { delivered: 0, badEnvelopes: 0 };
  readonly #nc: NatsConnection;
  readonly #prefix: string;
  readonly #base: string;
  readonly #logger: Logger;
  #hub: Hub | undefined;
  #allSub: Subscription | undefined;
  #lastBadLog = 0;
  readonly #callback = (err: Error | null, msg: Msg): void => this.#onMessage(err, msg);

  readonly #observer: SocketObserver | undefined;

  readonly #claims: SessionClaims;

  constructor(nc: NatsConnection, prefix: string, logger: Logger, claims: SessionClaims, observer?: SocketObserver) {
    this.#claims = claims;
    this.#observer = observer;
    this.#nc = nc;
    this.#prefix = prefix;
    this.#base = `${prefix}.push.`;
    this.#logger = logger;
  }

  /** Starts delivering to `hub`'s connections; subscribes to the all-connections subject. */
  start(hub: Hub): void {
    this.#hub = hub;
    this.#allSub = this.#nc.subscribe(pushSubjects.all(this.#prefix), { callback: this.#callback });
  }

  /** The subscription for one push slot (Hub calls it on the slot's first connection here). */
  subscribeSlot(slot: string): Subscription {
    return this.#nc.subscribe(pushSubjects.slotInterest(this.#prefix, slot), { callback: this.#callback });
  }

  stop(): void {
    this.#allSub?.unsubscribe();
    this.#allSub = undefined;
  }

  #bad(reason: string, subject: string): void {
    this.counters.badEnvelopes++;
    const now = Date.now();
    if (now - this.#lastBadLog < 5_000) return; // a flood of bad envelopes must not flood the log
    this.#lastBadLog = now;
    this.#logger.warn({ subject, reason, badEnvelopes: this.counters.badEnvelopes }, 'dropped a malformed push envelope');
  }

  #onMessage(err: Error | null, msg: Msg): void {
    const hub = this.#hub;
    if (err !== null || hub === undefined) {
      if (err !== null) this.#logger.error({ err }, 'push subscription failed');
      return;
    }
    const before = this.counters.delivered;
    const env = this.#route(hub, msg);
    const at = env?.['at'];
    if (this.#observer !== undefined && this.counters.delivered !== before && typeof at === 'number') {
      this.#observer.pushDelivered(Math.max(0, Date.now() - at) / 1000);
    }
  }

  /** Delivers one push message to the matching connections; returns its envelope when it was one. */
  #route(hub: Hub, msg: Msg): Record<string, unknown> | undefined {
    const subject = msg.subject;
    const rest = subject.slice(this.#base.length);
    if (rest === 'all') {
      // <prefix>.push.all: every connection (of one user when the envelope names one).
      const env = this.#envelope(msg);
      if (env === undefined) return;
      const userId = env['userId'];
      const except = typeof env['except'] === 'string' ? env['except'] : undefined;
      const bytes = this.#frameBytes(env, subject);
      if (bytes === undefined) return;
      hub.forEach((c) => {
        if ((typeof userId !== 'string' || c.userId === userId) && c.connectionId !== except) this.#push(c, bytes);
      });
      return env;
    }
    // <slot>.<userKey>.<deviceKey>
    const parts = rest.split('.');
    if (parts.length !== 3) {
      this.#bad('not a push subject', subject);
      return;
    }
    const [, userKey, deviceKey] = parts as [string, string, string];
    const conns = hub.forUser(userKey);
    if (conns.length === 0) return; // a connection of this slot held elsewhere, or gone
    const connectionId = `${userKey}-${deviceKey}`;
    if (!conns.some((c) => c.connectionId === connectionId)) return; // before decoding anything
    const env = this.#envelope(msg);
    if (env === undefined) return;
    const userId = env['userId'];
    if (typeof userId !== 'string') {
      this.#bad('device push without userId', subject);
      return;
    }
    const control = readFenceControl(env);
    if (control !== undefined) {
      for (const c of conns) if (c.connectionId === connectionId && c.userId === control.userId) this.#claims.control(c, control);
      return;
    }
    if (connectionId === env['except']) return;
    let bytes: Uint8Array | undefined;
    for (const c of conns) {
      if (c.connectionId !== connectionId || c.userId !== userId) continue;
      bytes ??= this.#frameBytes(env, subject);
      if (bytes === undefined) return;
      this.#push(c, bytes);
    }
    return env;
  }

  /** The decoded envelope of `msg`, or undefined (counted and logged) when it is not a map. */
  #envelope(msg: Msg): Record<string, unknown> | undefined {
    let env: unknown;
    try {
      env = decode(msg.data);
    } catch {
      this.#bad('not MessagePack', msg.subject);
      return;
    }
    if (!isMap(env)) {
      this.#bad('not a map', msg.subject);
      return;
    }
    return env;
  }

  #frameBytes(env: Record<string, unknown>, subject: string): Uint8Array | undefined {
    const frame = env['frame'];
    if (!isMap(frame) || typeof frame['t'] !== 'string') {
      this.#bad('frame is not a map with a string t', subject);
      return undefined;
    }
    return encode(frame);
  }

  #push(c: Connection, bytes: Uint8Array): void {
    this.counters.delivered++;
    c.deliver({ type: 'push', bytes });
  }
}
