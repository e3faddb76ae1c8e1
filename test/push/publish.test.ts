/**
 * publishPush against a real nats-server, received the way a socket node subscribes: each condition
 * kind reaches exactly the subjects it names, with the envelope the socket nodes read.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { connectionId, pushSlot, pushSubjects } from '../../protocol/cluster/mod.js';
import type { PushCondition, PushEnvelope } from '../../protocol/cluster/mod.js';
import { BadPushError, publishPush, resolveUsers } from '../../actors/push/mod.js';
import { decode } from '../../protocol/mod.js';
import { natsServer, type NatsServer } from '../kit/nats.js';
import { eventually } from '../store/kit.js';

let ns: NatsServer;
let pub: NatsConnection;
let sub: NatsConnection;
const PREFIX = 'pt';
const SENTINEL = `${PREFIX}.push.sentinel`;

beforeAll(async () => {
  ns = await natsServer({ jetstream: false });
  pub = await connect({ servers: ns.url });
  sub = await connect({ servers: ns.url });
});

afterAll(async () => {
  await pub?.close();
  await sub?.close();
  await ns?.[Symbol.asyncDispose]();
});

interface Received {
  subject: string;
  envelope: PushEnvelope;
}

/**
 * Everything published on the push plane while `run` runs, in order. A sentinel published after
 * `run` on the same connection marks the end: NATS keeps one publisher's order to one subscriber,
 * so once it arrives every push before it has arrived too, and nothing later is counted.
 */
async function capture(run: () => void): Promise<Received[]> {
  const got: Received[] = [];
  const stamps: unknown[] = [];
  const since = Date.now();
  let done = false;
  const s = sub.subscribe(`${PREFIX}.push.>`, {
    callback: (_err, msg) => {
      if (msg.subject === SENTINEL) done = true;
      else if (!done) {
        // `at` (publish time, for the delivery latency metric) is checked here and left out of the comparisons.
        const { at, ...envelope } = decode(msg.data) as PushEnvelope;
        stamps.push(at);
        got.push({ subject: msg.subject, envelope });
      }
    },
  });
  try {
    await sub.flush();
    run();
    pub.publish(SENTINEL);
    await pub.flush();
    await eventually('the sentinel', () => (done ? true : undefined));
    for (const at of stamps) expect(at, 'every envelope carries its publish time').toSatisfy((t: unknown) => typeof t === 'number' && t >= since && t <= Date.now());
    return got;
  } finally {
    s.unsubscribe();
  }
}

const frame = { t: 'sync', collection: 'bookmarks', rev: 42 };

describe('push - publishPush', () => {
  it('push - connection: one publish on that connection\'s subject, with its user id', async () => {
    const cid = connectionId('alice', 'phone');
    let count = 0;
    const got = await capture(() => {
      count = publishPush(pub, PREFIX, { kind: 'connection', connectionId: cid, userId: 'alice' }, { t: 'delivered', commandId: '1-ab' });
    });
    expect(count).toBe(1);
    expect(got).toEqual([{ subject: pushSubjects.connection(PREFIX, cid), envelope: { userId: 'alice', frame: { t: 'delivered', commandId: '1-ab' } } }]);
    const [u, d] = cid.split('-') as [string, string];
    expect(got[0]!.subject).toBe(`${PREFIX}.push.${d.slice(0, 3)}.${u}.${d}`);
    expect(pushSlot(cid)).toBe(d.slice(0, 3));
  });

  it('push - devices: one publish per device of the user but the excepted connection, one envelope for all', async () => {
    const except = connectionId('bob', 'laptop');
    let count = 0;
    const got = await capture(() => {
      count = publishPush(pub, PREFIX, { kind: 'devices', userId: 'bob', deviceIds: ['laptop', 'phone', 'tablet', 'phone'], exceptConnectionId: except }, frame);
      publishPush(pub, PREFIX, { kind: 'devices', userId: 'bob', deviceIds: [] }, frame);
    });
    expect(count).toBe(2);
    expect(got).toEqual(['phone', 'tablet'].map((d) => ({ subject: pushSubjects.device(PREFIX, 'bob', d), envelope: { userId: 'bob', frame } })));
  });

  it('push - user and users resolve to the devices their stores know, then publish as devices', async () => {
    const known: Record<string, string[]> = { u1: ['a', 'b'], u2: [], u3: ['c'] };
    const asked: string[] = [];
    const devicesOf = async (u: string): Promise<string[]> => {
      asked.push(u);
      return known[u] ?? [];
    };
    const resolved = await resolveUsers({ kind: 'users', userIds: ['u1', 'u2', 'u1', 'u3'] }, devicesOf);
    expect(asked).toEqual(['u1', 'u2', 'u3']);
    expect(resolved).toEqual([
      { kind: 'devices', userId: 'u1', deviceIds: ['a', 'b'] },
      { kind: 'devices', userId: 'u2', deviceIds: [] },
      { kind: 'devices', userId: 'u3', deviceIds: ['c'] },
    ]);
    const except = connectionId('u1', 'a');
    expect(await resolveUsers({ kind: 'user', userId: 'u1', exceptConnectionId: except }, devicesOf)).toEqual([{ kind: 'devices', userId: 'u1', deviceIds: ['a', 'b'], exceptConnectionId: except }]);
    const got = await capture(() => {
      for (const c of resolved) publishPush(pub, PREFIX, c, frame);
    });
    expect(got.map((g) => g.subject)).toEqual([pushSubjects.device(PREFIX, 'u1', 'a'), pushSubjects.device(PREFIX, 'u1', 'b'), pushSubjects.device(PREFIX, 'u3', 'c')]);
    await expect(resolveUsers({ kind: 'users', userIds: Array.from({ length: 10_001 }, (_, i) => `u${i}`) }, devicesOf)).rejects.toThrow(BadPushError);
    await expect(resolveUsers({ kind: 'user', userId: '' }, devicesOf)).rejects.toThrow(BadPushError);
  });

  it('push - all: a single publish on the all subject, without a user id', async () => {
    const got = await capture(() => {
      publishPush(pub, PREFIX, { kind: 'all' }, { t: 'notice', text: 'maintenance' });
    });
    expect(got).toEqual([{ subject: `${PREFIX}.push.all`, envelope: { frame: { t: 'notice', text: 'maintenance' } } }]);
  });

  it('push - a socket node subscribed to one push slot gets that slot\'s pushes and all, nothing of other slots', async () => {
    const seen: string[] = [];
    let done = false;
    const carol = connectionId('carol', 'x');
    // Another user's device in carol's slot, and one in another slot.
    let sameSlot = '';
    let otherSlot = '';
    for (let i = 0; sameSlot === '' || otherSlot === ''; i++) {
      const id = connectionId('dan', `d${i}`);
      if (pushSlot(id) === pushSlot(carol)) sameSlot ||= `d${i}`;
      else otherSlot ||= `d${i}`;
    }
    // What a socket node holding carol's connection (and no other) subscribes to.
    const subs = [pushSubjects.slotInterest(PREFIX, pushSlot(carol)), pushSubjects.all(PREFIX), SENTINEL].map((subject) =>
      sub.subscribe(subject, {
        callback: (_e, m) => {
          if (m.subject === SENTINEL) done = true;
          else seen.push(m.subject);
        },
      }),
    );
    try {
      await sub.flush();
      publishPush(pub, PREFIX, { kind: 'devices', userId: 'dan', deviceIds: [otherSlot] }, frame);
      publishPush(pub, PREFIX, { kind: 'connection', connectionId: connectionId('dan', otherSlot), userId: 'dan' }, frame);
      publishPush(pub, PREFIX, { kind: 'devices', userId: 'dan', deviceIds: [sameSlot] }, frame);
      publishPush(pub, PREFIX, { kind: 'connection', connectionId: carol, userId: 'carol' }, frame);
      publishPush(pub, PREFIX, { kind: 'all' }, frame);
      pub.publish(SENTINEL);
      await pub.flush();
      await eventually('the sentinel', () => (done ? true : undefined));
      // The slot's other connection arrives too (the socket node drops it after one look-up); other slots do not.
      expect(seen).toEqual([pushSubjects.device(PREFIX, 'dan', sameSlot), pushSubjects.connection(PREFIX, carol), pushSubjects.all(PREFIX)]);
    } finally {
      for (const s of subs) s.unsubscribe();
    }
  });

  it('push - malformed conditions and commands are refused before anything is published', async () => {
    const bad: [PushCondition, Record<string, unknown>][] = [
      [{ kind: 'connection', connectionId: 'not-an-id', userId: 'a' }, frame],
      // A connection of another user: never published, even if the caller is confused.
      [{ kind: 'connection', connectionId: connectionId('mallory', 'x'), userId: 'alice' }, frame],
      // Users are resolved to devices first (resolveUsers), never published as they are.
      [{ kind: 'user', userId: 'alice' }, frame],
      [{ kind: 'users', userIds: ['ok'] }, frame],
      [{ kind: 'devices', userId: 'alice', deviceIds: ['ok', 5 as unknown as string] }, frame],
      [{ kind: 'devices', userId: '', deviceIds: ['ok'] }, frame],
      [{ kind: 'nobody' } as unknown as PushCondition, frame],
      [{ kind: 'all' }, { no: 't' }],
    ];
    const got = await capture(() => {
      for (const [condition, command] of bad) expect(() => publishPush(pub, PREFIX, condition, command)).toThrow(BadPushError);
    });
    expect(got).toEqual([]);
  });
});
