import { describe, expect, it } from 'vitest';
import { BACKOFF_DEFAULTS, createBackoff } from '../../client/backoff.js';

describe('client backoff', () => {
  it('backoff - ceilings double from minMs up to maxMs without jitter', () => {
    const b = createBackoff({ minMs: 250, maxMs: 30_000, jitter: 'none' });
    const delays = Array.from({ length: 10 }, () => b.next());
    expect(delays).toEqual([250, 500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000]);
    expect(b.attempts).toBe(10);
  });

  it('backoff - full jitter stays within [0, ceiling] and spreads over it', () => {
    const samples: number[] = [];
    for (let run = 0; run < 2000; run++) {
      const b = createBackoff({ minMs: 250, maxMs: 30_000 });
      b.next();
      b.next();
      samples.push(b.next()); // third attempt: ceiling 1000
    }
    expect(Math.min(...samples)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...samples)).toBeLessThanOrEqual(1000);
    // Spread: each quarter of the window gets a fair share (expected 500 each).
    const quarters = [0, 0, 0, 0];
    for (const s of samples) quarters[Math.min(3, Math.floor(s / 250))]!++;
    for (const q of quarters) expect(q).toBeGreaterThan(350);
  });

  it('backoff - uses the random source it is given, at both ends of the window', () => {
    const low = createBackoff({ random: () => 0 });
    const high = createBackoff({ random: () => 0.999999 });
    expect([low.next(), low.next()]).toEqual([0, 0]);
    expect([high.next(), high.next()]).toEqual([250, 500]);
  });

  it('backoff - reset starts again from the first ceiling', () => {
    const b = createBackoff({ jitter: 'none' });
    for (let i = 0; i < 6; i++) b.next();
    b.reset();
    expect(b.attempts).toBe(0);
    expect(b.next()).toBe(BACKOFF_DEFAULTS.minMs);
  });

  it('backoff - stays finite after a very long outage', () => {
    const b = createBackoff({ jitter: 'none', maxMs: 5_000 });
    let last = 0;
    for (let i = 0; i < 5_000; i++) last = b.next();
    expect(last).toBe(5_000);
  });

  it('backoff - defaults are 250 ms, 30 s and full jitter', () => {
    expect(BACKOFF_DEFAULTS).toEqual({ minMs: 250, maxMs: 30_000, jitter: 'full' });
  });
});
