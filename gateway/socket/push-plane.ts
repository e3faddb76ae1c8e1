/**
 * The push plane of a socket node: NATS subscriptions in, session events out.
 *
 * Subjects (actors/identity.ts): `<prefix>.push.<userKey>.<deviceKey>` (one connection),
 * `<prefix>.push.<userKey>.all` (every connection of a user, minus `except`) and `<prefix>.push.all`.
 * The node subscribes once to `<prefix>.push.all` and once per user it holds (`<prefix>.push.<userKey>.>`,
 * see Hub). Every subscription shares one callback; the subject says which connections match.
 *
 * Rules, checked for every connection (PushEnvelope in actors/messages.ts): a user or device push is
 * delivered only to sessions whose userId equals the envelope's `userId` (an 80-bit user-key collision
 * costs a message, never a leak), never to `except`, and a device subject only to that connection id.
 * A push without `userId` is delivered only from `<prefix>.push.all`. Fence controls (fence.ts) arrive
 * on device subjects and become `replaced` events for older sessions.
 */
import type { Msg, NatsConnection, Subscription } from '@nats-io/nats-core';
import type { Logger } from 'pino';
import { pushSubjects } from '../../protocol/cluster/mod.js';
import { decode, encode } from '../../protocol/mod.js';
import type { Connection } from './connection.js';
import { readFenceControl } from './fence.js';
import type { Hub } from './hub.js';
import type { SocketObserver } from './options.js';

/** Counters the server reports. */
export interface PushPlaneCounters {
  delivered: number;
  badEnvelopes: number;
}

function isMap(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array);
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

  constructor(nc: NatsConnection, prefix: string, logger: Logger, observer?: SocketObserver) {
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

  /** The subscription for one user key (Hub calls it on the user's first connection). */
  subscribeUser(userKey: string): Subscription {
    return this.#nc.subscribe(pushSubjects.userInterest(this.#prefix, userKey), { callback: this.#callback });
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
    let env: unknown;
    try {
      env = decode(msg.data);
    } catch {
      this.#bad('not MessagePack', subject);
      return;
    }
    if (!isMap(env)) {
      this.#bad('not a map', subject);
      return;
    }
    const rest = subject.slice(this.#base.length);
    const userId = env['userId'];
    const except = typeof env['except'] === 'string' ? env['except'] : undefined;
    const dot = rest.indexOf('.');
    if (dot < 0) {
      // <prefix>.push.all: every connection (of one user when the envelope names one).
      const bytes = this.#frameBytes(env, subject);
      if (bytes === undefined) return;
      hub.forEach((c) => {
        if ((typeof userId !== 'string' || c.userId === userId) && c.connectionId !== except) this.#push(c, bytes);
      });
      return env;
    }
    if (typeof userId !== 'string') {
      this.#bad('user push without userId', subject);
      return;
    }
    const userKey = rest.slice(0, dot);
    const tail = rest.slice(dot + 1);
    const conns = hub.forUser(userKey);
    if (conns.length === 0) return;
    if (tail === 'all') {
      let bytes: Uint8Array | undefined;
      for (const c of conns) {
        if (c.userId !== userId || c.connectionId === except) continue;
        bytes ??= this.#frameBytes(env, subject);
        if (bytes === undefined) return;
        this.#push(c, bytes);
      }
      return env;
    }
    const connectionId = `${userKey}-${tail}`;
    const control = readFenceControl(env);
    if (control !== undefined) {
      for (const c of conns) if (c.connectionId === connectionId && c.userId === control.userId) this.#fence(c, control.epoch);
      return;
    }
    if (connectionId === except) return;
    let bytes: Uint8Array | undefined;
    for (const c of conns) {
      if (c.connectionId !== connectionId || c.userId !== userId) continue;
      bytes ??= this.#frameBytes(env, subject);
      if (bytes === undefined) return;
      this.#push(c, bytes);
    }
    return env;
  }

  /** A newer claim of `c`'s connection id was made with `epoch`. */
  #fence(c: Connection, epoch: number): void {
    if (c.epoch === 0) {
      // Still claiming: decided when our own epoch is known (SessionClaims.claim compares).
      if (epoch > c.seenEpoch) c.seenEpoch = epoch;
    } else if (epoch > c.epoch) {
      c.deliver({ type: 'replaced' });
    }
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
