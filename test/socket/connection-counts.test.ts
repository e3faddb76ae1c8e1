import { describe, expect, it } from 'vitest';
import { ConnectionCounts } from '../../gateway/socket/connection-counts.js';

const live = (...nodes: string[]) => (n: string) => nodes.includes(n);

describe('socket - connection counts of the users a node owns (quota)', () => {
  it('quota counts - at most max devices; the same device always gets in; a leave frees a place only for its own connection', () => {
    const c = new ConnectionCounts(45_000);
    const all = live('a', 'b');
    expect(c.admit('u', 'laptop', 'a', 1, 2, all, 0)).toBe(true);
    expect(c.admit('u', 'phone', 'b', 1, 2, all, 0)).toBe(true);
    expect(c.admit('u', 'tablet', 'a', 2, 2, all, 0)).toBe(false);
    expect(c.admit('u', 'phone', 'a', 3, 2, all, 0), 'the phone reconnecting elsewhere').toBe(true);
    expect(c.admit('other', 'x', 'a', 4, 2, all, 0), 'other users are not affected').toBe(true);
    // The phone's old connection (b, 1) leaving does not uncount its newer one (a, 3).
    c.leave('u', 'phone', 'b', 1);
    expect(c.admit('u', 'tablet', 'a', 5, 2, all, 0)).toBe(false);
    c.leave('u', 'laptop', 'a', 1);
    expect(c.admit('u', 'tablet', 'a', 6, 2, all, 0)).toBe(true);
    expect(c.size).toBe(3);
  });

  it('quota counts - entries of a node that is gone or silent past the TTL stop counting; a refresh keeps them', () => {
    const c = new ConnectionCounts(45_000);
    expect(c.admit('u', 'laptop', 'a', 1, 2, live('a', 'b'), 0)).toBe(true);
    expect(c.admit('u', 'phone', 'b', 1, 2, live('a', 'b'), 0)).toBe(true);
    // b died: its phone no longer counts.
    expect(c.admit('u', 'tablet', 'a', 2, 2, live('a'), 1_000)).toBe(true);
    // a refreshes the laptop and tablet; nothing else does: after the TTL only what was refreshed counts.
    c.refresh('a', [{ userKey: 'u', deviceKey: 'laptop', admission: 1 }, { userKey: 'u', deviceKey: 'tablet', admission: 2 }], 40_000);
    expect(c.admit('u', 'watch', 'a', 3, 2, live('a'), 50_000)).toBe(false);
    c.expire(90_000, () => true);
    expect(c.size).toBe(0);
  });

  it('quota counts - a refresh teaches a new owner what it missed; a device counted on another node keeps that entry; unowned users are dropped', () => {
    const c = new ConnectionCounts(45_000);
    c.refresh('a', [{ userKey: 'u', deviceKey: 'laptop', admission: 7 }], 0);
    c.refresh('b', [{ userKey: 'u', deviceKey: 'phone', admission: 3 }, { userKey: 'w', deviceKey: 'x', admission: 1 }], 0);
    expect(c.admit('u', 'tablet', 'c', 1, 2, live('a', 'b', 'c'), 10)).toBe(false);
    // b still reports the laptop it once held (its old connection): a's newer entry stays a's.
    c.refresh('b', [{ userKey: 'u', deviceKey: 'laptop', admission: 1 }], 20);
    c.leave('u', 'laptop', 'b', 1);
    expect(c.admit('u', 'tablet', 'c', 2, 2, live('a', 'b', 'c'), 30)).toBe(false);
    c.leave('u', 'laptop', 'a', 7);
    c.expire(40, (u) => u === 'u');
    expect(c.size, 'w is no longer ours').toBe(1);
    expect(c.admit('u', 'tablet', 'c', 3, 2, live('a', 'b', 'c'), 50)).toBe(true);
  });
});
