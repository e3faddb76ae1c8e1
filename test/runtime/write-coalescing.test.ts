import { describe, expect, it } from 'vitest';
import type { NatsConnection } from '@nats-io/nats-core';
import { connect } from '@nats-io/transport-node';
import { natsServer } from '../kit/nats.js';
import { coalesceWrites } from '../../runtime/mod.js';

/** Counts the socket writes of `nc` (nats.js's transport socket; test-only reach into internals). */
function countWrites(nc: NatsConnection): { readonly count: number } {
  const socket = (nc as unknown as { protocol: { transport: { socket: { write: (...a: unknown[]) => boolean } } } }).protocol.transport.socket;
  const write = socket.write.bind(socket);
  const counter = { count: 0 };
  socket.write = (...a: unknown[]) => {
    counter.count++;
    return write(...a);
  };
  return counter;
}

/** Publishes `n` messages, each from its own macrotask (as uWebSockets.js events arrive), all in one turn. */
function publishFromMacrotasks(nc: NatsConnection, subject: string, n: number): Promise<void> {
  return new Promise((resolve) => {
    for (let i = 0; i < n; i++) {
      setImmediate(() => {
        nc.publish(subject, new TextEncoder().encode(String(i)));
        if (i === n - 1) resolve();
      });
    }
  });
}

async function receive(nc: NatsConnection, subject: string, n: number): Promise<() => Promise<string[]>> {
  // A message that never comes fails the test in 5 s instead of hanging it.
  const sub = nc.subscribe(subject, { max: n, timeout: 5_000 });
  await nc.flush();
  return async () => {
    const got: string[] = [];
    for await (const m of sub) got.push(m.string());
    return got;
  };
}

const upTo = (n: number): string[] => Array.from({ length: n }, (_, i) => String(i));

describe('runtime - NATS write coalescing', () => {
  it('write coalescing - publishes from many macrotasks of one turn leave in one socket write, all delivered in order', async () => {
    await using ns = await natsServer();
    const plain = await connect({ servers: ns.url });
    const batched = await connect({ servers: ns.url });
    const reader = await connect({ servers: ns.url });
    try {
      expect(coalesceWrites(batched)).toBe(true);
      expect(coalesceWrites(batched), 'applying twice is harmless').toBe(true);

      const plainDone = await receive(reader, 'plain', 50);
      const plainWrites = countWrites(plain);
      await publishFromMacrotasks(plain, 'plain', 50);
      await plain.flush();
      expect(await plainDone()).toEqual(upTo(50));

      const batchedDone = await receive(reader, 'batched', 50);
      const batchedWrites = countWrites(batched);
      await publishFromMacrotasks(batched, 'batched', 50);
      await batched.flush();
      expect(await batchedDone()).toEqual(upTo(50));

      // Without coalescing each macrotask writes (plus the flush's PING); with it, one write carries them all.
      expect(plainWrites.count).toBeGreaterThanOrEqual(50);
      expect(batchedWrites.count).toBeLessThanOrEqual(2);
    } finally {
      await Promise.all([plain.close(), batched.close(), reader.close()]);
    }
  });

  it('write coalescing - a publish right before close() is still sent; a buffer past the pending limit is written at once', async () => {
    await using ns = await natsServer();
    const reader = await connect({ servers: ns.url });
    try {
      const closing = await connect({ servers: ns.url });
      coalesceWrites(closing);
      const done = await receive(reader, 'last-words', 1);
      closing.publish('last-words', new TextEncoder().encode('0'));
      await closing.close();
      expect(await done()).toEqual(['0']);

      const big = await connect({ servers: ns.url });
      try {
        coalesceWrites(big);
        const writes = countWrites(big);
        const limit = (big as unknown as { protocol: { pendingLimit: number } }).protocol.pendingLimit;
        // Past the limit inside one macrotask: written before the turn ends, not held for setImmediate.
        const payload = new Uint8Array(Math.ceil(limit / 4));
        for (let i = 0; i < 5; i++) big.publish('big', payload);
        expect(writes.count).toBeGreaterThanOrEqual(1);
      } finally {
        await big.close();
      }
    } finally {
      await reader.close();
    }
  });

  it('write coalescing - a connection of another shape is left alone', () => {
    expect(coalesceWrites({} as NatsConnection)).toBe(false);
    expect(coalesceWrites({ protocol: { flushPending: () => undefined } } as unknown as NatsConnection)).toBe(false);
  });
});
