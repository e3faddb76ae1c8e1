/**
 * Unit tests with a hand-driven clock: the actor cell's transition table (cell-lifecycle.ts),
 * self-fencing (fencing.ts) and down detection after a stall (membership.ts). No nats-server:
 * these parts take their clock and collaborators as arguments (a small fake connection for
 * membership).
 */
import { describe, expect, it } from 'vitest';
import { pino } from 'pino';
import type { NatsConnection } from '@nats-io/nats-core';
import { encode } from '../../protocol/mod.js';
import { canMove, CellLifecycle, CellStatus, Membership, SelfFencing, type Clock } from '../../runtime/internal.js';
import { LeaseLostError, UnavailableError, type MembershipEvent } from '../../runtime/mod.js';

/** A clock whose time moves only when the test says so. */
class ManualClock implements Clock {
  t = 1_000;
  private next = 1;
  private readonly timers = new Map<number, { at: number; fn: () => void; every?: number }>();
  now = (): number => this.t;
  setTimeout(fn: () => void, ms: number): number {
    const id = this.next++;
    this.timers.set(id, { at: this.t + ms, fn });
    return id;
  }
  clearTimeout(h: unknown): void {
    this.timers.delete(h as number);
  }
  setInterval(fn: () => void, ms: number): number {
    const id = this.next++;
    this.timers.set(id, { at: this.t + ms, fn, every: ms });
    return id;
  }
  clearInterval(h: unknown): void {
    this.timers.delete(h as number);
  }
  /** Moves time forward by `ms`, firing due timers in order. */
  advance(ms: number): void {
    const end = this.t + ms;
    for (;;) {
      const due = [...this.timers.entries()].filter(([, x]) => x.at <= end).sort((a, b) => a[1].at - b[1].at)[0];
      if (due === undefined) break;
      const [id, x] = due;
      this.t = x.at;
      if (x.every !== undefined) x.at += x.every;
      else this.timers.delete(id);
      x.fn();
    }
    this.t = end;
  }
  /** Time jumps by `ms` with no timer running meanwhile (a paused process), then due timers fire once. */
  pause(ms: number): void {
    this.t += ms;
    for (const x of this.timers.values()) if (x.at < this.t) x.at = this.t;
    this.advance(0);
  }
}

const quiet = pino({ level: 'silent' });

describe('actor cell lifecycle', () => {
  it('lifecycle - the transition table allows the documented moves only', () => {
    const { activating, running, restarting, stopping, stopped } = CellStatus;
    const allowed = [
      [activating, running],
      [activating, stopped],
      [running, restarting],
      [running, stopping],
      [running, stopped],
      [restarting, running],
      [restarting, stopping],
      [restarting, stopped],
      [stopping, stopped],
    ].map(([a, b]) => `${a}->${b}`);
    const all = [activating, running, restarting, stopping, stopped];
    for (const a of all) for (const b of all) expect(canMove(a, b), `${a}->${b}`).toBe(allowed.includes(`${a}->${b}`));
  });

  it('lifecycle - impossible moves are refused and reported; a stopped cell never runs again', () => {
    const illegal: string[] = [];
    const life = new CellLifecycle({ label: 'actor k/1', illegalMove: (from, to) => illegal.push(`${from}->${to}`) });
    expect(life.beginStop()).toBe(false); // activating -> stopping is not a move
    expect(illegal).toEqual(['0->3']);
    life.leased(7, 2);
    expect([life.leaseRev, life.leaseEpoch]).toEqual([7, 2]);
    expect(life.run()).toBe(true);
    expect(life.restart()).toBe(true);
    expect(life.run()).toBe(true);
    life.end('node-down');
    expect(life.status).toBe(CellStatus.stopped);
    // Late moves after a stop (an activation or restart that settles afterwards) are refused quietly.
    expect(life.run()).toBe(false);
    expect(illegal).toEqual(['0->3']);
  });

  it('lifecycle - the signal aborts with LeaseLostError when the lease is lost, before the stop ends', () => {
    const life = new CellLifecycle({ label: 'actor k/2', illegalMove: () => undefined });
    life.leased(3, 1);
    life.run();
    const signal = life.signal;
    expect(signal.aborted).toBe(false);
    life.loseLease();
    expect(signal.aborted).toBe(true);
    expect(signal.reason).toBeInstanceOf(LeaseLostError);
    expect(life.leaseRev).toBe(0); // nothing to release
    life.beginStop();
    life.end('stopped');
    expect(signal.reason).toBeInstanceOf(LeaseLostError);
  });

  it('lifecycle - aborted follows the activation without creating the signal', () => {
    const life = new CellLifecycle({ label: 'actor k/4', illegalMove: () => undefined }, CellStatus.running);
    expect(life.aborted).toBe(false);
    life.loseLease();
    expect(life.aborted).toBe(true);
    const stopped = new CellLifecycle({ label: 'actor k/5', illegalMove: () => undefined }, CellStatus.running);
    stopped.beginStop();
    expect(stopped.aborted).toBe(true);
    // The signal built afterwards agrees.
    expect(stopped.signal.aborted).toBe(true);
    expect((life as unknown as { controller?: AbortController }).controller).toBeUndefined();
  });

  it('lifecycle - a plain stop aborts the signal with UnavailableError, also when read after the stop', () => {
    const life = new CellLifecycle({ label: 'actor k/3', illegalMove: () => undefined }, CellStatus.running);
    life.beginStop();
    life.end('passivated');
    expect(life.signal.aborted).toBe(true);
    expect(life.signal.reason).toBeInstanceOf(UnavailableError);
    expect(life.signal.reason).not.toBeInstanceOf(LeaseLostError);
  });
});

describe('self-fencing', () => {
  function fencing(clock: ManualClock, echo: { at: number }): { f: SelfFencing; fenced: () => number } {
    let n = 0;
    const f = new SelfFencing({
      logger: quiet,
      clock,
      heartbeatMs: 100,
      downAfterMs: 1_000,
      lastEcho: () => echo.at,
      fenceAll: () => ++n,
      closing: () => false,
    });
    f.start((async function* () {})());
    return { f, fenced: () => n };
  }

  /** `ms` of normal life: the loop runs and every heartbeat (each 100 ms) comes back. */
  function healthy(clock: ManualClock, echo: { at: number }, ms: number): void {
    for (let left = ms; left > 0; left -= 100) {
      clock.advance(Math.min(100, left));
      echo.at = clock.t;
    }
  }

  it('fencing - cut off for downAfterMs/2 with no echo of its own heartbeat: fenced; the echo ends it', () => {
    const clock = new ManualClock();
    const echo = { at: clock.t };
    const { f, fenced } = fencing(clock, echo);
    f.onStatus({ type: 'disconnect' });
    clock.advance(499);
    expect(f.fenced).toBe(false);
    clock.advance(1);
    expect(f.fenced).toBe(true);
    expect(fenced()).toBe(1);
    f.onOwnEcho();
    expect(f.fenced).toBe(false);
    f.stop();
  });

  it('fencing - a disconnect healed within the window (own heartbeat came back) does not fence', () => {
    const clock = new ManualClock();
    const echo = { at: clock.t };
    const { f, fenced } = fencing(clock, echo);
    f.onStatus({ type: 'disconnect' });
    healthy(clock, echo, 600); // status events can lag: the echo says the connection works
    expect(fenced()).toBe(0);
    f.onStatus({ type: 'disconnect' });
    f.onStatus({ type: 'reconnect' });
    healthy(clock, echo, 2_000);
    expect(fenced()).toBe(0);
    f.stop();
  });

  it('fencing - a stall of downAfterMs (paused process) fences at once; shorter stalls do not', () => {
    const clock = new ManualClock();
    const echo = { at: clock.t };
    const { f, fenced } = fencing(clock, echo);
    healthy(clock, echo, 5_000);
    clock.pause(900); // under 1 s: the others have not seen downAfterMs of silence yet
    echo.at = clock.t; // the heartbeat that waited in the socket is read right after
    healthy(clock, echo, 1_000);
    expect(fenced()).toBe(0);
    clock.pause(1_050);
    expect(fenced()).toBe(1);
    expect(f.fenced).toBe(true);
    f.stop();
  });

  it('fencing - with the loop running, no echo of its own heartbeat for downAfterMs (half-open connection) fences', () => {
    const clock = new ManualClock();
    const echo = { at: clock.t };
    const { f, fenced } = fencing(clock, echo);
    healthy(clock, echo, 4_000);
    expect(fenced()).toBe(0);
    clock.advance(999);
    expect(fenced()).toBe(0);
    clock.advance(100);
    expect(fenced()).toBe(1);
    clock.advance(1_000); // fenced once, not again on every tick
    expect(fenced()).toBe(1);
    echo.at = clock.t;
    f.onOwnEcho();
    expect(f.fenced).toBe(false);
    f.stop();
  });
});

describe('membership after a stall', () => {
  /** Just enough of a NATS connection: one subscription whose callback the test drives. */
  function fakeConnection(): { nc: NatsConnection; deliver: (value: unknown) => void } {
    let callback: ((err: Error | null, msg: { data: Uint8Array; subject: string }) => void) | undefined;
    const nc = {
      subscribe: (_subject: string, opts: { callback: typeof callback }) => {
        callback = opts.callback;
        return { unsubscribe: () => undefined };
      },
      requestMany: () => Promise.reject(new Error('503 no responders')),
      publish: () => undefined,
      flush: () => Promise.resolve(),
      isClosed: () => false,
    } as unknown as NatsConnection;
    return { nc, deliver: (value) => callback?.(null, { data: encode(value), subject: 'sm.hb._' }) };
  }

  /** Node `me` (heartbeat 100 ms, down after 1 s) on a fake connection. */
  function membership(nc: NatsConnection, clock: ManualClock): Membership {
    return new Membership({
      nc,
      subjectBase: 'sm.hb',
      self: { nodeId: 'me', roles: [], kinds: [], meta: {}, startedAt: 1 },
      heartbeatMs: 100,
      downAfterMs: 1_000,
      clock,
      logger: quiet,
      onBadMessage: () => undefined,
    });
  }

  it('membership - a node that did not run for longer than downAfterMs does not call the others down on resume', async () => {
    const clock = new ManualClock();
    const { nc, deliver } = fakeConnection();
    const m = membership(nc, clock);
    const events: string[] = [];
    m.subscribe((e: MembershipEvent) => events.push(`${e.type} ${e.member.nodeId}`));
    await m.start(0);
    const hb = { t: 'hb', id: 'other', roles: [], kinds: ['k'], meta: {}, draining: false, startedAt: 5 };
    for (let i = 0; i < 20; i++) {
      deliver(hb);
      clock.advance(100);
    }
    expect(events).toEqual(['up other']);
    clock.pause(3_000); // SIGSTOP: the other kept sending; its heartbeats wait in our socket
    deliver(hb);
    clock.advance(300);
    expect(events).toEqual(['up other']);
    expect(m.isLive('other')).toBe(true);
    clock.advance(1_300); // now it is silent for real
    expect(events).toEqual(['up other', 'down other']);
    m.stop();
  });

  it('membership - heardOf: a stranger is judged only after downAfterMs of listening; its heartbeat, or having seen it go, settles it at once', async () => {
    const clock = new ManualClock();
    const { nc, deliver } = fakeConnection();
    const m = membership(nc, clock);
    await m.start(0);
    const settled: string[] = [];
    const wait = (id: string): void => {
      const p = m.heardOf(id);
      if (p === undefined) settled.push(`${id} now`);
      else void p.then(() => settled.push(`${id} later`));
    };
    wait('busy'); // not heard of yet: wait
    wait('dead');
    await Promise.resolve();
    expect(settled).toEqual([]);
    clock.advance(300);
    deliver({ t: 'hb', id: 'busy', roles: [], kinds: [], meta: {}, draining: false, startedAt: 5 });
    await Promise.resolve();
    expect(settled).toEqual(['busy later']); // its heartbeat: live
    clock.advance(699);
    await Promise.resolve();
    expect(settled).toEqual(['busy later']);
    clock.advance(1); // listened for downAfterMs: a live member would have been heard of
    await Promise.resolve();
    expect(settled).toEqual(['busy later', 'dead later']);
    wait('busy');
    wait('never');
    expect(settled.slice(2)).toEqual(['busy now', 'never now']);
    m.stop();
  });

  it('membership - heardOf: a member seen going down is judged at once, also right after the join', async () => {
    const clock = new ManualClock();
    const { nc, deliver } = fakeConnection();
    const m = membership(nc, clock);
    await m.start(0);
    const info = { id: 'leaver', roles: [], kinds: [], meta: {}, draining: false, startedAt: 5 };
    deliver({ t: 'hb', ...info });
    deliver({ t: 'leave', ...info });
    expect(m.isLive('leaver')).toBe(false);
    expect(m.heardOf('leaver')).toBeUndefined();
    m.stop();
  });
});
