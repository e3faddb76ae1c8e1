/**
 * TARGETS R9: pushes that were lost do not leave a connected device stale.
 *
 * Raw-protocol devices (test/kit/device.ts) that pull from their cursor on `sync` and on `resync`,
 * as the protocol asks (docs/protocol.md 3.3), and never otherwise: no user action.
 *
 * - A socket node's own NATS link (through a TCP proxy, so no other process is touched) is cut; a
 *   commit made meanwhile on another device of the user has its push lost; the link comes back. The
 *   node tells its clients `{t:"resync"}` and the stale device converges.
 * - A storage node dies between a JetStream write and its push (the write is made with the store's
 *   own code, then the node holding the user's store actor is killed with SIGKILL before any push):
 *   every socket node tells its clients to resync when the node is seen down, and every device
 *   converges, also the ones whose socket node never saw a problem.
 */
import { describe, expect, it } from 'vitest';
import { connect } from '@nats-io/transport-node';
import { Kvm } from '@nats-io/kv';
import { createCloudStore } from '../../actors/store/mod.js';
import { actorKey } from '../../runtime/internal.js';
import { decode } from '../../protocol/mod.js';
import type { Device, Frame } from '../kit/device.js';
import { connectAs, localCluster } from '../kit/cluster.js';
import { devicesOn, until, waitAsync } from '../kit/moving-device.js';
import { roleNode } from '../kit/role-node.js';
import { tcpProxy } from '../kit/tcp-proxy.js';

const COLLECTION = 'notes';
/** "Within a few seconds": generous for a loaded 2-core machine, and still far below a user's patience. */
const CONVERGE_MS = 12_000;

/** A device that follows the protocol: its cursor, and a pull from it whenever the server says so. */
class Follower {
  cursor = 0;
  readonly seen = new Map<string, unknown>();
  #handled = 0;
  #pulling = false;
  constructor(readonly device: Device) {}

  /** Pulls from the cursor until `more` is false. */
  async pull(): Promise<void> {
    this.#pulling = true;
    try {
      for (;;) {
        const a = await this.device.request({ t: 'pull', collection: COLLECTION, since: this.cursor });
        if (a.t !== 'changes') throw new Error(`pull answered ${JSON.stringify(a)}`);
        for (const c of a['changes'] as Array<Record<string, unknown>>) this.seen.set(String(c['key']), c['deleted'] === true ? undefined : c['value']);
        this.cursor = Number(a['rev']);
        if (a['more'] !== true) return;
      }
    } finally {
      this.#pulling = false;
    }
  }

  /** Handles frames that arrived: a `sync` of the collection or a `resync` means pull. */
  async react(): Promise<void> {
    if (this.#pulling) return;
    const frames = this.device.frames;
    let pull = false;
    for (; this.#handled < frames.length; this.#handled++) {
      const f: Frame = frames[this.#handled]!;
      if (f.t === 'resync' || (f.t === 'sync' && f['collection'] === COLLECTION)) pull = true;
    }
    if (pull) await this.pull();
  }

  count(t: string): number {
    return this.device.frames.filter((f) => f.t === t).length;
  }
}

/** Lets every follower react until each has seen `key` = `value`. */
async function converge(followers: readonly Follower[], key: string, value: unknown, what: string): Promise<number> {
  const started = Date.now();
  await waitAsync(
    async () => {
      for (const f of followers) await f.react();
      return followers.every((f) => f.seen.get(key) === value);
    },
    what,
    CONVERGE_MS,
    () => followers.map((f) => `${String(f.seen.get(key))} (frames ${f.device.frames.map((x) => x.t).join(',')})`).join('; '),
  );
  return Date.now() - started;
}

describe('faults - push recovery (R9)', () => {
  it('faults - after its NATS link drops and returns, a socket node tells its clients to resync and a commit made meanwhile reaches them', async () => {
    await using cluster = await localCluster({ socketNodes: 1 });
    const natsPort = Number(new URL(cluster.state.nats).port);
    await using px = await tcpProxy(natsPort);
    await using cut = await roleNode({
      dataDir: cluster.dataDir,
      nats: `nats://127.0.0.1:${px.port}`,
      nodeId: 'socket-px',
      roles: ['socket'],
      args: ['--socket-host', '127.0.0.1', '--socket-port', '0'],
    });
    const userId = `r9a-${Date.now()}`;
    const [onCut] = await devicesOn(cluster.url, userId, 'socket-px', 1, 'a');
    const [elsewhere] = await devicesOn(cluster.url, userId, 'socket-1', 1, 'b');
    const stale = new Follower(onCut!.device);
    const writer = new Follower(elsewhere!.device);
    try {
      await stale.pull();
      await writer.pull();
      // Sanity: with the link up, a commit reaches the other device by `sync`.
      expect((await writer.device.request({ t: 'commit', collection: COLLECTION, changes: [{ key: 'before', value: 1 }] })).t).toBe('committed');
      await converge([stale], 'before', 1, 'the push before the cut');

      px.cut();
      await until(() => px.refused >= 2, 'the socket node to be cut off from NATS (its reconnects refused)', 10_000);
      const answer = await writer.device.request({ t: 'commit', collection: COLLECTION, changes: [{ key: 'during', value: 2 }] });
      expect(answer.t).toBe('committed');
      const resyncsBefore = stale.count('resync');
      px.restore();
      const ms = await converge([stale], 'during', 2, 'the cut-off device to see the commit made during the cut');

      expect(stale.count('resync'), 'the node told its client to resync').toBeGreaterThan(resyncsBefore);
      expect(stale.device.frames.filter((f) => f.t === 'sync').length, 'the push of the commit made during the cut was lost: only the first sync came').toBe(1);
      expect(stale.device.closed, 'the device stayed connected: no reconnect, no user action').toBeUndefined();
      console.info(`R9a: NATS link of socket-px cut (${px.refused} reconnects refused), restored; the stale device converged ${ms} ms after the link came back`);
    } finally {
      onCut!.device.close();
      elsewhere!.device.close();
    }
  });

  it('faults - a storage node that dies between a JetStream write and its push: every connected device converges', async () => {
    await using cluster = await localCluster({ socketNodes: 2 });
    await using standby = await roleNode({ dataDir: cluster.dataDir, nats: cluster.state.nats, nodeId: 'storage-2', roles: ['storage'] });
    const userId = `r9b-${Date.now()}`;
    const placed = [...(await devicesOn(cluster.url, userId, 'socket-1', 2, 'a')), ...(await devicesOn(cluster.url, userId, 'socket-2', 1, 'b'))];
    const followers = placed.map((p) => new Follower(p.device));
    const nc = await connectAs(cluster.state, 'storage');
    try {
      for (const f of followers) await f.pull();
      // The user's store actor is active: find the storage node that holds it.
      expect((await followers[0]!.device.request({ t: 'commit', collection: COLLECTION, changes: [{ key: 'warm', value: 0 }] })).t).toBe('committed');
      await converge(followers.slice(1), 'warm', 0, 'the push before the fault');
      const lease = await (await new Kvm(nc).open('sm_leases')).get(actorKey('store', userId));
      const holder = (decode(lease!.value) as { node: string }).node;
      const victim = holder === 'storage-2' ? standby.pid : cluster.state.processes.find((p) => p.node === holder)!.pid;

      // The write, made by the store's own code, durable in JetStream; then the store's node dies before any push.
      const store = await createCloudStore({ nc });
      try {
        await store.commit({ userId, collection: COLLECTION, changes: [{ key: 'orphan', value: 7 }] });
      } finally {
        await store.close();
      }
      const resyncsBefore = followers.map((f) => f.count('resync'));
      process.kill(victim, 'SIGKILL');
      const ms = await converge(followers, 'orphan', 7, 'every device to see the write whose push never happened');

      followers.forEach((f, i) => expect(f.count('resync'), `device ${i} was told to resync`).toBeGreaterThan(resyncsBefore[i]!));
      for (const f of followers) expect(f.device.closed, 'devices stayed connected').toBeUndefined();
      console.info(`R9b: ${holder} killed after a write without its push; ${followers.length} devices on 2 socket nodes converged ${ms} ms after SIGKILL`);
    } finally {
      for (const p of placed) p.device.close();
      await nc.close();
    }
  });
});
