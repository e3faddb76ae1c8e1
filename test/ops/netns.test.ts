/**
 * Socket nodes on distinct addresses: two Linux network namespaces (ip netns + veth), each running a
 * socket node (`syncmesh node --roles socket`) bound to its own 10.x.y.z address, reaching NATS in the
 * root namespace across its link. The gateway (with storage and push) runs in the root namespace; the
 * distributor answers with the namespaces' addresses, and clients in the root namespace connect across
 * the links and sync with each other.
 *
 * Needs root (CI runs as root). Where namespaces cannot be created, the test says so in its output and
 * is reported as skipped, never as passed; with CI or SYNCMESH_REQUIRE_NETNS set it fails instead.
 */
import { describe, expect, it } from 'vitest';
import { connectRequest, devToken, Device } from '../kit/device.js';
import { listNamespaces, namespaces, netnsAvailable } from '../kit/netns.js';
import { natsServer } from '../kit/nats.js';
import { syncmeshNode } from '../kit/syncmesh.js';
import { waitFor } from '../kit/wait.js';

const env = { SYNCMESH_TICKET_SECRET: 'netns-test-ticket-secret-0123456789', SYNCMESH_JWT_SECRET: 'netns-test-jwt-secret-0123456789-abcdefgh' };

describe('netns - socket nodes on their own addresses', () => {
  it('netns - two socket nodes in network namespaces on 10.x addresses: the distributor hands out those addresses, clients connect across and sync', async (ctx) => {
    const unavailable = netnsAvailable();
    if (unavailable !== undefined) {
      const message = `NETWORK NAMESPACE TEST NOT RUN: network namespaces cannot be created here (${unavailable}). Run the tests as root (CI does).`;
      console.warn(message);
      if (process.env['CI'] || process.env['SYNCMESH_REQUIRE_NETNS']) throw new Error(message);
      ctx.skip(message);
      return;
    }
    const before = listNamespaces();
    {
      await using nets = await namespaces(2);
      // Also when the test times out (its body is then abandoned, `await using` never runs): no namespace is left behind.
      ctx.onTestFinished(() => nets[Symbol.asyncDispose]());
      // NATS listens on every address, so the namespaces reach it through their gateway address.
      await using ns = await natsServer({ extraConfig: 'host: "0.0.0.0"' });
      await using gateway = await syncmeshNode(['--roles', 'gateway,storage,push', '--nats', ns.url, '--http-host', '127.0.0.1', '--http-port', '0', '--dev'], { env });
      const url = gateway.info.http!;
      const sockets = await Promise.all(
        nets.spaces.map((space, i) =>
          syncmeshNode(['--roles', 'socket', '--node-id', `ns-socket-${i}`, '--nats', `nats://${space.gateway}:${ns.port}`, '--socket-host', space.address], {
            env,
            command: space.exec,
          }),
        ),
      );
      try {
        for (const [i, s] of sockets.entries()) expect(s.info.socket).toMatch(new RegExp(`^ws://${nets.spaces[i]!.address.replace(/\./g, '\\.')}:\\d+/ws$`));
        await waitFor('the gateway to see both socket nodes', async () => {
          const body = (await (await fetch(`${url}/healthz`)).json()) as { socketServers?: number };
          return body.socketServers === 2 ? true : undefined;
        });

        // One device of the user on each namespace's node.
        const userId = 'netns-alice';
        const token = await devToken(url, userId);
        const answers = new Map<string, Awaited<ReturnType<typeof connectRequest>>>();
        for (let i = 0; i < 64 && answers.size < 2; i++) {
          const a = await connectRequest(url, token, userId, `dev-${i}`);
          if (!answers.has(a.socket.host)) answers.set(a.socket.host, a);
        }
        expect([...answers.keys()].sort()).toEqual(nets.spaces.map((s) => s.address).sort());
        const devices = await Promise.all([...answers.values()].map((a) => Device.openWith(a)));
        try {
          const [a, b] = devices as [Device, Device];
          expect(a.frames[0]).toMatchObject({ t: 'welcome' });
          expect(a.answer.socket.host).not.toBe(b.answer.socket.host);
          const committed = await a.request({ t: 'commit', collection: 'tabs', changes: [{ key: 'from', value: a.answer.socket.host }] });
          const sync = await b.next((f) => f.t === 'sync' && f['collection'] === 'tabs');
          expect(sync['rev']).toBeGreaterThanOrEqual(committed['rev'] as number);
          const pulled = await b.request({ t: 'pull', collection: 'tabs', since: 0 });
          expect(pulled['changes']).toEqual([{ key: 'from', value: a.answer.socket.host, rev: committed['rev'] }]);
          console.info(`netns: socket nodes on ${nets.spaces.map((s) => `${s.address} (${s.name})`).join(' and ')}; a commit through ${a.answer.socket.url} reached ${b.answer.socket.url} as sync`);
        } finally {
          for (const d of devices) d.close();
        }
      } finally {
        await Promise.all(sockets.map((s) => s.stop()));
      }
    }
    // Cleaned up: no namespace of this run is left.
    expect(listNamespaces().filter((n) => !before.includes(n))).toEqual([]);
  }, 120_000);
});
