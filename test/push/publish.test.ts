/**
 * publishPush against a real nats-server, received the way a socket node subscribes: each condition
 * kind reaches exactly the subjects it names, with the envelope the socket nodes read.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { connectionId, pushSubjects, userKey } from '../../protocol/cluster/mod.js';
import type { PushCondition, PushEnvelope } from '../../protocol/cluster/mod.js';
import { BadPushError, publishPush } from '../../actors/push/mod.js';
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
    expect(got[0]!.subject).toBe(`${PREFIX}.push.${cid.replace('-', '.')}`);
  });

  it('push - user: one publish on the user subject, carrying except when given', async () => {
    const except = connectionId('bob', 'laptop');
    const got = await capture(() => {
      publishPush(pub, PREFIX, { kind: 'user', userId: 'bob', exceptConnectionId: except }, frame);
      publishPush(pub, PREFIX, { kind: 'user', userId: 'bob' }, frame);
    });
    expect(got).toEqual([
      { subject: `${PREFIX}.push.${userKey('bob')}.all`, envelope: { userId: 'bob', except, frame } },
      { subject: `${PREFIX}.push.${userKey('bob')}.all`, envelope: { userId: 'bob', frame } },
    ]);
  });

  it('push - users: one publish per distinct user, none for anyone else', async () => {
    let count = 0;
    const got = await capture(() => {
      count = publishPush(pub, PREFIX, { kind: 'users', userIds: ['u1', 'u2', 'u1', 'u3'] }, frame);
    });
    expect(count).toBe(3);
    expect(got).toEqual(['u1', 'u2', 'u3'].map((u) => ({ subject: pushSubjects.user(PREFIX, u), envelope: { userId: u, frame } })));
  });

  it('push - all: a single publish on the all subject, without a user id', async () => {
    const got = await capture(() => {
      publishPush(pub, PREFIX, { kind: 'all' }, { t: 'notice', text: 'maintenance' });
    });
    expect(got).toEqual([{ subject: `${PREFIX}.push.all`, envelope: { frame: { t: 'notice', text: 'maintenance' } } }]);
  });

  it('push - a socket node subscribed to one user\'s interest gets that user\'s pushes and all, nothing of other users', async () => {
    const seen: string[] = [];
    let done = false;
    // What a socket node holding a connection of `carol` (and no one else) subscribes to.
    const subs = [pushSubjects.userInterest(PREFIX, userKey('carol')), pushSubjects.all(PREFIX), SENTINEL].map((subject) =>
      sub.subscribe(subject, {
        callback: (_e, m) => {
          if (m.subject === SENTINEL) done = true;
          else seen.push(m.subject);
        },
      }),
    );
    try {
      await sub.flush();
      publishPush(pub, PREFIX, { kind: 'user', userId: 'dan' }, frame);
      publishPush(pub, PREFIX, { kind: 'connection', connectionId: connectionId('dan', 'x'), userId: 'dan' }, frame);
      publishPush(pub, PREFIX, { kind: 'users', userIds: ['dan', 'carol'] }, frame);
      publishPush(pub, PREFIX, { kind: 'connection', connectionId: connectionId('carol', 'x'), userId: 'carol' }, frame);
      publishPush(pub, PREFIX, { kind: 'all' }, frame);
      pub.publish(SENTINEL);
      await pub.flush();
      await eventually('the sentinel', () => (done ? true : undefined));
      expect(seen).toEqual([pushSubjects.user(PREFIX, 'carol'), pushSubjects.connection(PREFIX, connectionId('carol', 'x')), pushSubjects.all(PREFIX)]);
    } finally {
      for (const s of subs) s.unsubscribe();
    }
  });

  it('push - malformed conditions and commands are refused before anything is published', async () => {
    const bad: [PushCondition, Record<string, unknown>][] = [
      [{ kind: 'connection', connectionId: 'not-an-id', userId: 'a' }, frame],
      // A connection of another user: never published, even if the caller is confused.
      [{ kind: 'connection', connectionId: connectionId('mallory', 'x'), userId: 'alice' }, frame],
      [{ kind: 'user', userId: '' }, frame],
      [{ kind: 'users', userIds: ['ok', 5 as unknown as string] }, frame],
      [{ kind: 'nobody' } as unknown as PushCondition, frame],
      [{ kind: 'all' }, { no: 't' }],
    ];
    const got = await capture(() => {
      for (const [condition, command] of bad) expect(() => publishPush(pub, PREFIX, condition, command)).toThrow(BadPushError);
    });
    expect(got).toEqual([]);
  });
});
