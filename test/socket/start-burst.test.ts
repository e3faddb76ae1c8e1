import { connect as tcpConnect, type Socket } from 'node:net';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { describe, expect, it } from 'vitest';
import { natsServer } from '../kit/nats.js';
import { socketNode, until } from './kit.js';

/** Busy for `ms` (a session start on a saturated machine costs this much and more). */
function spin(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end);
}

describe('socket - session starts in time slices', () => {
  it('socket - a burst of upgrades ready in one turn starts its sessions over many turns, so the loop keeps turning', async () => {
    await using ns = await natsServer();
    // No quota (the starts follow the opens directly) and no store: the starts are the only work.
    await using sn = await socketNode(ns.url, { store: 'none', server: { maxConnectionsPerUser: 0 } });
    // Each session start costs 20 ms here: 150 of them in one turn would hold the loop for 3 s.
    const START_MS = 20;
    const N = 150;
    const node = sn.node as { tell: typeof sn.node.tell };
    const tell = sn.node.tell.bind(sn.node);
    node.tell = (ref, message) => {
      if ((message as { type?: unknown }).type === 'session.open') spin(START_MS);
      tell(ref, message);
    };

    const { port } = new URL(sn.server.url);
    const sockets: Socket[] = [];
    const received: string[] = [];
    try {
      // Connected first (the server accepts them, nothing more), then every upgrade written in one go,
      // so that the server's next turn finds all of them readable at once.
      await Promise.all(
        Array.from({ length: N }, (_, i) => new Promise<void>((resolve, reject) => {
          const s = tcpConnect({ host: '127.0.0.1', port: Number(port) }, resolve);
          s.once('error', reject);
          received[i] = '';
          s.on('data', (d: Buffer) => (received[i] += d.toString('latin1')));
          sockets.push(s);
        })),
      );
      const delay = monitorEventLoopDelay({ resolution: 5 });
      delay.enable();
      sockets.forEach((s, i) => {
        const ticket = sn.ticket(`burst-${i}`, 'd');
        s.write(`GET /ws?ticket=${encodeURIComponent(ticket)} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`);
      });
      await until(() => received.every((r) => r.startsWith('HTTP/1.1 101') && r.includes('welcome')), `all ${N} sessions to send welcome`, 30_000);
      delay.disable();
      const maxMs = delay.max / 1e6;
      // Inline, one turn held the loop for about N x START_MS = 3 s; in slices of 10 ms, a turn lasts
      // a slice, one start and the upgrades themselves (50-300 ms on a loaded machine).
      expect(maxMs, `longest event-loop delay during the burst: ${maxMs.toFixed(0)} ms`).toBeLessThan(1_000);
      expect(sn.server.stats().connections).toBe(N);
    } finally {
      for (const s of sockets) s.destroy();
    }
  });
});
