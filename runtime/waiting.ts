/**
 * The sender's side of waiting for a host (the queue itself is host-wait.ts): a tell or ask to a
 * virtual actor whose kind no live, non-draining member hosts is held, released in arrival order
 * when a member hosting the kind appears, expired at its deadline, dropped when the node closes.
 */
import type { Logger } from 'pino';
import type { Candidates } from './candidates.js';
import type { Clock } from './clock.js';
import { NoSuchActorError, UnavailableError } from './errors.js';
import { HostWait, type HeldMessage } from './host-wait.js';
import type { ActorMessage, ActorRef } from './types.js';

/** Defaults of NodeOptions.hostWaitMs / hostWaitCapacity (see docs/runtime.md, "Waiting for a host"). */
export const DEFAULT_HOST_WAIT_MS = 3_000;
export const DEFAULT_HOST_WAIT_CAPACITY = 10_000;

export interface WaitingDeps {
  readonly id: string;
  readonly logger: Logger;
  readonly clock: Clock;
  readonly candidates: Candidates;
  readonly waitMs: number;
  readonly capacity: number;
  /** Sends a released message again, as the application would. */
  tell(ref: ActorRef, message: ActorMessage): void;
  ask(ref: ActorRef, message: ActorMessage, timeoutMs: number): Promise<unknown>;
  deadLetter(ref: ActorRef, message: ActorMessage, why: string): void;
}

export class Waiting {
  readonly room: HostWait;

  constructor(private readonly d: WaitingDeps) {
    this.room = new HostWait({ waitMs: d.waitMs, capacity: d.capacity, clock: d.clock, onExpired: (h) => this.expired(h) });
  }

  /** An ask to a virtual actor whose kind no live member hosts: it waits for one (or fails at once when waiting is off, or the kind is explicit here). */
  holdAsk<T>(ref: ActorRef, message: ActorMessage, timeoutMs: number, explicitKind: boolean): Promise<T> {
    if (!this.room.enabled || explicitKind) return Promise.reject(new NoSuchActorError(`no live node hosts actor kind ${ref.kind}; start a node with that kind`));
    return new Promise<T>((resolve, reject) => {
      const since = this.d.clock.now();
      const held: HeldMessage = {
        ref,
        message,
        since,
        until: since + Math.min(this.room.waitMs, timeoutMs),
        ask: { deadline: since + timeoutMs, resolve: resolve as (v: unknown) => void, reject },
      };
      const r = this.room.hold(held);
      if (r === 'full') reject(this.fullError(ref.kind));
      else if (r === 'new-kind') this.logFirst(ref.kind);
    });
  }

  /** A tell to a virtual actor whose kind no live member hosts: it waits for one, else it is a dead letter. */
  holdTell(ref: ActorRef, message: ActorMessage): void {
    if (!this.room.enabled) return this.d.deadLetter(ref, message, 'no live node hosts the kind');
    const since = this.d.clock.now();
    const r = this.room.hold({ ref, message, since, until: since + this.room.waitMs });
    if (r === 'full') this.d.deadLetter(ref, message, this.fullError(ref.kind).message);
    else if (r === 'new-kind') this.logFirst(ref.kind);
  }

  /** Membership changed: messages waiting for a kind that now has a live host go out, in arrival order. */
  release(): void {
    if (this.room.size === 0) return;
    for (const kind of [...this.room.kinds()]) {
      if (!this.d.candidates.hasHost(kind)) continue;
      const held = this.room.release(kind);
      this.d.logger.debug({ kind, count: held.length }, `a node hosting actor kind ${kind} joined: routing the messages that waited for it`);
      for (const h of held) this.resend(h);
    }
  }

  /** Closing: waiting asks fail (retry elsewhere), waiting tells are dead letters. */
  dropAll(): void {
    for (const h of this.room.releaseAll()) {
      const text = `node ${this.d.id} closed while ${h.ref.kind}/${h.ref.id} waited for a node hosting its kind`;
      if (h.ask !== undefined) h.ask.reject(new UnavailableError(`${text}; ask another node`));
      else this.d.deadLetter(h.ref, h.message, text);
    }
  }

  private resend(h: HeldMessage): void {
    if (h.ask === undefined) return this.d.tell(h.ref, h.message);
    const left = h.ask.deadline - this.d.clock.now();
    if (left <= 0) return this.expired(h); // the sweep had not run yet
    this.d.ask(h.ref, h.message, left).then(h.ask.resolve, h.ask.reject);
  }

  private expired(h: HeldMessage): void {
    const waited = this.d.clock.now() - h.since;
    const text = `no live node hosts actor kind ${h.ref.kind} (waited ${waited} ms for one to join); start a node with that kind`;
    if (h.ask !== undefined) h.ask.reject(new NoSuchActorError(text));
    else this.d.deadLetter(h.ref, h.message, text);
  }

  private fullError(kind: string): UnavailableError {
    return new UnavailableError(
      `${this.room.capacity} messages already wait for a node hosting actor kind ${kind}; retry later, and check that a node with that kind is running`,
    );
  }

  private logFirst(kind: string): void {
    this.d.logger.info({ kind, waitMs: this.room.waitMs }, `no live node hosts actor kind ${kind}: holding its messages until one joins`);
  }
}
