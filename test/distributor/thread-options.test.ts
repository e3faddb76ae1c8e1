import { describe, expect, it } from 'vitest';
import { perThreadOptions, threadCount } from '../../gateway/distributor/thread-options.js';
import type { DistributorOptions } from '../../gateway/distributor/mod.js';

const base: DistributorOptions = { host: '127.0.0.1', port: 0, ticketSecret: 'ticket-secret-0123456789abcdef01', jwt: { secret: 'jwt-secret-0123456789abcdef01234' }, devMode: false };

describe('distributor thread options', () => {
  it('checks the thread count', () => {
    expect(threadCount(undefined)).toBe(1);
    expect(threadCount(4)).toBe(4);
    for (const bad of [0, -1, 1.5, 65, Number.NaN]) expect(() => threadCount(bad)).toThrow(/threads must be an integer from 1 to 64/);
  });

  it('one thread serves the options as given', () => {
    expect(perThreadOptions(base, 1)).toBe(base);
  });

  it('splits the rate limits over the threads, rounding up, and keeps a limit that is off off', () => {
    expect(perThreadOptions(base, 2).rateLimit).toEqual({ perUserPerSec: 10, perIpPerSec: 1_000 }); // defaults 20 and 2,000
    expect(perThreadOptions({ ...base, rateLimit: { perUserPerSec: 5, perIpPerSec: 0 } }, 3).rateLimit).toEqual({ perUserPerSec: 2, perIpPerSec: 0 });
    expect(perThreadOptions({ ...base, rateLimit: { perUserPerSec: 1 } }, 8).rateLimit?.perUserPerSec).toBe(1);
  });

  it('gives every thread one dev-token key in dev mode, and keeps a key that was given', () => {
    const dev = perThreadOptions({ ...base, devMode: true }, 2);
    expect(dev.devTokenSecret).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(perThreadOptions({ ...base, devMode: true, devTokenSecret: 'given' }, 2).devTokenSecret).toBe('given');
    expect(perThreadOptions(base, 2).devTokenSecret).toBeUndefined();
  });
});
