import { describe, expect, it } from 'vitest';
import { natsServer } from '../kit/nats.js';
import { encode } from '../../protocol/mod.js';
import { connectionId, pushSlot, pushSubjects } from '../../protocol/cluster/mod.js';
import type { PushEnvelope } from '../../protocol/cluster/mod.js';
import { closeAll, socketNode, until, type Frame, type TestClient } from './kit.js';

describe('socket - push plane', () => {
  it('socket - delivers pushes by subject rules and never to another user', async () => {
    await using ns = await natsServer();
    await using sn = await socketNode(ns.url);
    const laptop = await sn.client('alice', 'laptop');
    const phone = await sn.client('alice', 'phone');
    const bob = await sn.client('bob', 'laptop');
    const all = [laptop, phone, bob];
    try {
      const publish = (subject: string, env: PushEnvelope | Uint8Array): void => sn.nc.publish(subject, env instanceof Uint8Array ? env : encode(env));
      const aliceLaptop = pushSubjects.device('sm', 'alice', 'laptop');
      const alicePhone = pushSubjects.device('sm', 'alice', 'phone');
      // To alice's laptop, and to her phone.
      publish(aliceLaptop, { userId: 'alice', frame: { t: 'sync', collection: 'c', rev: 1 } });
      publish(alicePhone, { userId: 'alice', frame: { t: 'sync', collection: 'c', rev: 2 } });
      // To the phone except the phone: nobody.
      publish(alicePhone, { userId: 'alice', except: connectionId('alice', 'phone'), frame: { t: 'sync', collection: 'c', rev: 7 } });
      // Forged: bob's id on alice's subjects, alice's subject without a user, garbage: nobody gets these.
      publish(alicePhone, { userId: 'bob', frame: { t: 'sync', collection: 'leak', rev: 3 } });
      publish(aliceLaptop, { userId: 'bob', frame: { t: 'sync', collection: 'leak', rev: 4 } });
      publish(aliceLaptop, { frame: { t: 'sync', collection: 'leak', rev: 5 } } as PushEnvelope);
      publish(aliceLaptop, Uint8Array.from([0xc1]));
      publish(aliceLaptop, { userId: 'alice', frame: { collection: 'no-t' } });
      // To everyone: the marker that the pushes before it were processed.
      publish(pushSubjects.all('sm'), { frame: { t: 'sync', collection: 'marker', rev: 6 } });

      for (const c of all) await c.take((f) => f['collection'] === 'marker', 15_000, 'the marker push');
      const syncs = (c: TestClient): unknown[] => c.ofType('sync').map((f) => f['rev']);
      expect(syncs(laptop)).toEqual([1, 6]);
      expect(syncs(phone)).toEqual([2, 6]);
      expect(syncs(bob)).toEqual([6]);
      expect(sn.server.stats().badPushEnvelopes).toBe(3);
    } finally {
      await closeAll(all);
    }
  });

  it('socket - a commit syncs the user\'s other connections across nodes, not the committer, not other users', async () => {
    await using ns = await natsServer();
    await using n1 = await socketNode(ns.url);
    await using n2 = await socketNode(ns.url);
    const laptop = await n1.client('alice', 'laptop');
    const phone = await n2.client('alice', 'phone');
    const tablet = await n1.client('alice', 'tablet');
    const bob = await n2.client('bob', 'phone');
    const all = [laptop, phone, tablet, bob];
    try {
      // Each device pulls at connect, as the client library does: the store knows it from then on.
      for (const c of [phone, tablet, bob]) await c.request({ t: 'pull', id: 9, collection: 'tabs', since: 0 });
      const committed = await laptop.request({ t: 'commit', id: 1, collection: 'tabs', changes: [{ key: 'k', value: 'v' }] });
      const rev = committed['rev'];
      // The committed answer and the sync name the collection's rev before the commit (0: new), and the
      // sync carries the commit's record (protocol extension: no pull needed by an up-to-date device).
      expect(committed['from']).toBe(0);
      for (const c of [phone, tablet]) {
        expect(await c.take((f) => f['t'] === 'sync')).toEqual({ t: 'sync', collection: 'tabs', rev, from: 0, changes: [{ key: 'k', rev, value: 'v' }] });
      }
      // Marker through the all subject: bob and the laptop got nothing before it.
      n1.nc.publish(pushSubjects.all('sm'), encode({ frame: { t: 'sync', collection: 'marker', rev: 0 } }));
      for (const c of [laptop, bob]) await c.take((f) => f['collection'] === 'marker');
      expect(laptop.ofType('sync').map((f) => f['collection'])).toEqual(['marker']);
      expect(bob.ofType('sync').map((f) => f['collection'])).toEqual(['marker']);
    } finally {
      await closeAll(all);
    }
  });

  /**
   * A device becomes known at its session's pending look-up, which follows the fence claim a few
   * milliseconds after `welcome` (later under load); until then a command to it is refused with
   * quota_exceeded "never connected".
   */
  const unknownTarget = (answer: Frame): boolean => answer['t'] === 'error' && /never connected/.test(String(answer['message']));

  /** Sends a command frame once its target is a known device (the target is connected). */
  async function sendWhenKnown(from: TestClient, frame: Frame): Promise<Frame> {
    let answer: Frame = {};
    await until(async () => !unknownTarget((answer = await from.request(frame))), 'the target device to be known');
    return answer;
  }

  it('socket - device commands reach the target, wait for an offline device, and report delivery on ack', async () => {
    await using ns = await natsServer();
    await using sn = await socketNode(ns.url);
    const laptop = await sn.client('alice', 'laptop');
    const phone = await sn.client('alice', 'phone');
    const clients: TestClient[] = [laptop, phone];
    try {
      const sent = await sendWhenKnown(laptop, { t: 'send', id: 1, toDevice: 'phone', body: { url: 'https://example.com' } });
      expect(sent).toMatchObject({ t: 'sent', id: 1 });
      const commandId = sent['commandId'];
      const cmd = await phone.take((f) => f['t'] === 'command');
      expect(cmd).toEqual({ t: 'command', commandId, fromDevice: 'laptop', body: { url: 'https://example.com' } });
      phone.send({ t: 'ack', commandId });
      expect(await laptop.take((f) => f['t'] === 'delivered')).toEqual({ t: 'delivered', commandId });

      // Offline target: the command waits and comes right after welcome on connect. Commands go only to
      // devices the user has: the tablet connects once (and leaves) before it is sent one.
      // A connection closed before its look-up leaves the tablet unknown: it connects again, as a device would.
      let later: Frame = {};
      await until(async () => {
        await closeAll([await sn.client('alice', 'tablet')]);
        return !unknownTarget((later = await laptop.request({ t: 'send', id: 2, toDevice: 'tablet', body: 'later' })));
      }, 'the tablet to be known');
      expect(later).toMatchObject({ t: 'sent', id: 2 });
      const tablet = await sn.client('alice', 'tablet');
      clients.push(tablet);
      const pending = await tablet.take((f) => f['t'] === 'command');
      expect(pending).toEqual({ t: 'command', commandId: later['commandId'], fromDevice: 'laptop', body: 'later' });
      expect(tablet.frames.indexOf(pending)).toBeGreaterThan(tablet.frames.findIndex((f: Frame) => f['t'] === 'welcome'));
    } finally {
      await closeAll(clients);
    }
  });

  it('socket - subscribes once per push slot on the node and unsubscribes with the slot\'s last connection', async () => {
    await using ns = await natsServer();
    await using sn = await socketNode(ns.url);
    // Two of alice's devices in one slot (about 4,096 tries), bob's in another.
    const aliceFirst = 'd0';
    const slotA = pushSlot(connectionId('alice', aliceFirst));
    const aliceSecond = findDevice('alice', (s, d) => s === slotA && d !== aliceFirst);
    const bobDevice = findDevice('bob', (s) => s !== slotA);
    const a1 = await sn.client('alice', aliceFirst);
    const a2 = await sn.client('alice', aliceSecond);
    const b1 = await sn.client('bob', bobDevice);
    try {
      expect(sn.server.stats()).toMatchObject({ connections: 3, users: 2, pushSlots: 2 });
      a1.close();
      await until(() => sn.server.stats().connections === 2, 'one connection fewer');
      expect(sn.server.stats().pushSlots).toBe(2);
      a2.close();
      await until(() => sn.server.stats().pushSlots === 1, 'alice\'s slot unsubscribed');
      expect(sn.server.stats().users).toBe(1);
      // Bob's device still gets its pushes.
      sn.nc.publish(pushSubjects.device('sm', 'bob', bobDevice), encode({ userId: 'bob', frame: { t: 'sync', collection: 'b', rev: 1 } }));
      await b1.take((f) => f['t'] === 'sync');
    } finally {
      await closeAll([a1, a2, b1]);
    }
  });
});

/** The first device `d<i>` of `user` whose connection id's push slot passes `ok`. */
function findDevice(user: string, ok: (slot: string, device: string) => boolean): string {
  for (let i = 0; ; i++) if (ok(pushSlot(connectionId(user, `d${i}`)), `d${i}`)) return `d${i}`;
}
