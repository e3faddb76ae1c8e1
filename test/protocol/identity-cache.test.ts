import { describe, expect, it } from 'vitest';
import { connectionId, IdentityCache, userKey } from '../../protocol/cluster/mod.js';

describe('protocol - identity cache', () => {
  it('protocol - gives the connection ids and user keys the algorithm gives, for users and devices seen again', () => {
    const cache = new IdentityCache();
    const pairs: [string, string][] = [
      ['alice', 'phone'],
      ['alice', 'laptop'],
      ['bob', 'phone'],
      ['zoë 🌍', 'tablet\u0000x'],
    ];
    for (let round = 0; round < 3; round++) {
      for (const [user, device] of pairs) {
        expect(cache.connectionId(user, device)).toBe(connectionId(user, device));
        expect(cache.userKey(user)).toBe(userKey(user));
      }
    }
    expect(cache.size).toBe(3);
  });

  it('protocol - holds at most maxUsers users and maxDevicesPerUser devices each, and stays right past both', () => {
    const cache = new IdentityCache(2, 3);
    for (let u = 0; u < 10; u++) {
      for (let d = 0; d < 10; d++) expect(cache.connectionId(`u${u}`, `d${d}`)).toBe(connectionId(`u${u}`, `d${d}`));
      expect(cache.size).toBeLessThanOrEqual(2);
    }
    // An evicted user is computed again, correctly.
    expect(cache.userKey('u0')).toBe(userKey('u0'));
    expect(cache.connectionId('u0', 'd9')).toBe(connectionId('u0', 'd9'));
  });

  it('protocol - refuses bounds that are not positive integers', () => {
    expect(() => new IdentityCache(0)).toThrow(/maxUsers must be a positive integer/);
    expect(() => new IdentityCache(10, 1.5)).toThrow(/maxDevicesPerUser must be a positive integer/);
  });
});
