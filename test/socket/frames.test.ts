import { describe, expect, it } from 'vitest';
import { encode } from '@msgpack/msgpack';
import { natsServer } from '../kit/nats.js';
import { closeAll, socketNode, until, type Frame } from './kit.js';

const isError = (f: Frame): boolean => f['t'] === 'error';

describe('socket - frames and requests', () => {
  it('socket - answers text, garbage, non-map, unknown t and wrong shapes with error frames and keeps the connection', async () => {
    await using ns = await natsServer();
    await using sn = await socketNode(ns.url, { server: { limits: { maxFrameBytes: 1024 } } });
    const c = await sn.client('alice', 'laptop');
    const other = await sn.client('bob', 'phone');
    try {
      const expectError = async (code: string, id?: unknown): Promise<Frame> => {
        const f = await c.take(isError, 15_000, `an error frame ${code}`);
        expect(f['code']).toBe(code);
        expect(typeof f['message']).toBe('string');
        expect(String(f['message'])).not.toMatch(/\n\s+at /); // never a stack trace
        if (id !== undefined) expect(f['id']).toBe(id);
        else expect('id' in f).toBe(false);
        return f;
      };
      c.sendRaw('{"t":"pull"}', false);
      await expectError('bad_frame');
      c.sendRaw(Uint8Array.from([0xc1, 0xff, 0x00]), true); // 0xc1 is never used in MessagePack
      await expectError('bad_frame');
      c.sendRaw(Uint8Array.from([0x82, 0xa1, 0x74]), true); // truncated map
      await expectError('bad_frame');
      c.sendRaw(Uint8Array.from([0x01, 0x02]), true); // two values in one frame
      await expectError('bad_frame');
      c.sendRaw(encode([1, 2, 3]), true);
      await expectError('bad_frame');
      c.sendRaw(encode('pull'), true);
      await expectError('bad_frame');
      c.send({ id: 1 });
      await expectError('bad_frame', 1);
      c.send({ t: 'explode', id: 2 });
      await expectError('bad_frame', 2);
      c.send({ t: 'welcome', id: 3 }); // a server frame is not a request
      await expectError('bad_frame', 3);
      // Wrong shapes -> bad_request, with the id when there is one.
      c.send({ t: 'pull', collection: 'notes', since: 0 });
      await expectError('bad_request');
      c.send({ t: 'pull', id: 4, collection: 42, since: 0 });
      await expectError('bad_request', 4);
      c.send({ t: 'pull', id: 5, collection: 'notes', since: -1 });
      await expectError('bad_request', 5);
      c.send({ t: 'pull', id: 6, collection: 'notes', since: 2n ** 62n });
      await expectError('bad_request', 6);
      c.send({ t: 'commit', id: 7, collection: 'notes', changes: 'nope' });
      await expectError('bad_request', 7);
      c.send({ t: 'commit', id: 8, collection: 'notes', changes: [{ value: 1 }] });
      await expectError('bad_request', 8);
      c.send({ t: 'commit', id: 9, collection: 'notes', changes: [{ key: 'k' }] });
      await expectError('bad_request', 9);
      c.send({ t: 'commit', id: 10, collection: 'notes', changes: [{ key: 'k', value: 1, base: 'old' }] });
      await expectError('bad_request', 10);
      c.send({ t: 'send', id: 11, toDevice: '', body: 1 });
      await expectError('bad_request', 11);
      c.send({ t: 'ack', id: 12 });
      await expectError('bad_request', 12);
      c.send({ t: 'pull', id: 13, collection: 'x'.repeat(2_000), since: 0 }); // over maxFrameBytes
      await expectError('too_large', 13);
      expect(sn.server.stats().badFrames).toBe(4); // text or undecodable; shape problems are the session's

      // The connection, the other connection and the server all still work.
      expect(c.isOpen).toBe(true);
      const answer = await c.request({ t: 'pull', id: 100, collection: 'notes', since: 0 });
      expect(answer).toMatchObject({ t: 'changes', id: 100, collection: 'notes', changes: [], more: false });
      expect(await other.request({ t: 'pull', id: 1, collection: 'notes', since: 0 })).toMatchObject({ t: 'changes', id: 1 });
    } finally {
      await closeAll([c, other]);
    }
  });

  it('socket - commit, pull, conflicts and 64-bit values round trip through the store', async () => {
    await using ns = await natsServer();
    await using sn = await socketNode(ns.url);
    const c = await sn.client('alice', 'laptop');
    try {
      const big = 2n ** 40n + 7n;
      const huge = 2n ** 63n + 5n; // uint64
      const committed = await c.request({
        t: 'commit',
        id: 1,
        collection: 'bookmarks',
        changes: [
          { key: 'a', value: { title: 'A', visits: big, max: huge } },
          { key: 'b', value: 'bee' },
        ],
      });
      expect(committed).toMatchObject({ t: 'committed', id: 1, conflicts: [] });
      const rev = committed['rev'] as number;
      expect(rev).toBeGreaterThan(0);

      // base 0 = "must not exist": `a` exists (rev 1 of this commit), so it comes back as a conflict.
      const stale = await c.request({ t: 'commit', id: 2, collection: 'bookmarks', changes: [{ key: 'a', value: 'x', base: 0 }, { key: 'b', deleted: true }] });
      expect(stale['conflicts']).toEqual([{ key: 'a', rev: rev - 1, value: { title: 'A', visits: big, max: huge } }]);

      const pulled = await c.request({ t: 'pull', id: 3, collection: 'bookmarks', since: 0 });
      expect(pulled).toMatchObject({ t: 'changes', id: 3, collection: 'bookmarks', more: false });
      const changes = pulled['changes'] as Frame[];
      expect(changes.find((r) => r['key'] === 'a')?.['value']).toEqual({ title: 'A', visits: big, max: huge });
      expect(changes.find((r) => r['key'] === 'b')).toMatchObject({ deleted: true });

      // A 64-bit request id comes back intact.
      const id = 2n ** 60n + 1n;
      expect((await c.request({ t: 'pull', id, collection: 'bookmarks', since: rev + 1 }))['id']).toBe(id);
    } finally {
      await closeAll([c]);
    }
  });

  it('socket - store failures become protocol errors without internals, and a silent store times out as internal', async () => {
    await using ns = await natsServer();
    await using sn = await socketNode(ns.url, { store: 'fake', server: { limits: { askTimeoutMs: 300, maxInflight: 2 } } });
    const c = await sn.client('alice', 'laptop');
    try {
      const bad = await c.request({ t: 'commit', id: 1, collection: 'fail-bad-request', changes: [] });
      expect(bad).toMatchObject({ t: 'error', id: 1, code: 'bad_request', message: 'collection name refused by the store' });
      const crash = await c.request({ t: 'commit', id: 2, collection: 'fail-crash', changes: [] });
      expect(crash).toMatchObject({ t: 'error', id: 2, code: 'internal' });
      expect(String(crash['message'])).not.toContain('/var/lib/secret');
      const silent = await c.request({ t: 'commit', id: 3, collection: 'fail-silent', changes: [] });
      expect(silent).toMatchObject({ t: 'error', id: 3, code: 'internal' });
      expect(String(silent['message'])).toMatch(/retry/);
      // At most maxInflight requests wait for the store per connection; more are refused at once.
      for (let id = 10; id < 13; id++) c.send({ t: 'commit', id, collection: 'fail-silent', changes: [] });
      expect(await c.take((f) => f['id'] === 12)).toMatchObject({ t: 'error', code: 'rate_limited' });
      expect(await c.take((f) => f['id'] === 10)).toMatchObject({ t: 'error', code: 'internal' });
    } finally {
      await closeAll([c]);
    }
  });

  it('socket - rate limits frames per connection and closes a connection that keeps abusing it', async () => {
    await using ns = await natsServer();
    await using sn = await socketNode(ns.url, { server: { limits: { ratePerSec: 20, burst: 10, maxRejectedFrames: 200 } } });
    const c = await sn.client('alice', 'laptop');
    const calm = await sn.client('alice', 'phone');
    try {
      for (let i = 0; i < 30; i++) c.send({ t: 'pull', id: i, collection: 'notes', since: 0 });
      await until(() => c.frames.filter((f) => f['t'] === 'changes' || f['t'] === 'error').length >= 30, 'answers to 30 pulls');
      const limited = c.frames.filter((f) => f['t'] === 'error' && f['code'] === 'rate_limited');
      expect(limited.length).toBeGreaterThanOrEqual(15); // burst 10, a few refills at most
      expect(typeof limited[0]?.['id']).toBe('number'); // refusals carry the request id
      expect(c.isOpen).toBe(true);
      // Another connection is not affected.
      expect(await calm.request({ t: 'pull', id: 1, collection: 'notes', since: 0 })).toMatchObject({ t: 'changes' });

      // Sustained abuse: the connection is closed with the terminal `policy` code.
      for (let i = 0; i < 400 && c.isOpen; i++) c.send({ t: 'pull', id: 1000 + i, collection: 'notes', since: 0 });
      const closed = await c.closed;
      expect(closed.code).toBe(4101);
      expect(sn.server.stats().policyClosed).toBe(1);
      expect(calm.isOpen).toBe(true);
    } finally {
      await closeAll([c, calm]);
    }
  });
});
