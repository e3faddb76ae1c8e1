/**
 * One definition and one helper for every stream and bucket (runtime/streams.ts) and cluster-wide
 * settings (runtime/cluster-settings.ts), against a real nats-server: created with the wanted
 * settings, checked (never changed) when they exist, a difference named field by field; the replica
 * count written once and agreed on by every later node.
 */
import { describe, expect, it } from 'vitest';
import { JetStreamApiError, jetstreamManager, type JetStreamManager, type StreamInfo } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { Kvm } from '@nats-io/kv';
import { encode } from '../../protocol/mod.js';
import { ensureBucket, ensureStream, loadClusterSettings, StreamMismatchError } from '../../runtime/mod.js';
import { natsCluster, natsSetup } from '../kit/nats.js';

describe('streams - ensureStream / ensureBucket and cluster settings', () => {
  it('streams - a bucket is created with Direct Get stated, reopened when equal, and a difference is named, not applied', async () => {
    await using env = await natsSetup();
    const kv = await ensureBucket(env.nc, { bucket: 't_fence', replicas: 1, history: 1 });
    await kv.put('k', new Uint8Array([1]));
    const jsm = await jetstreamManager(env.nc);
    const info = await jsm.streams.info('KV_t_fence');
    expect(info.config.allow_direct).toBe(true);
    expect(info.config.num_replicas).toBe(1);
    // Same settings from another node: opened as is.
    const again = await ensureBucket(env.nc, { bucket: 't_fence', replicas: 1, history: 1 });
    expect([...((await again.get('k'))?.value ?? [])]).toEqual([1]);
    // Other settings: refused, each difference named with the way to fix it; the stream is untouched.
    const err = await ensureBucket(env.nc, { bucket: 't_fence', replicas: 1, history: 5 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StreamMismatchError);
    expect((err as StreamMismatchError).differences).toEqual(['max_msgs_per_subject: found 1, expected 5']);
    expect((err as Error).message).toMatch(/KV_t_fence.*nats stream edit KV_t_fence/s);
    expect((await jsm.streams.info('KV_t_fence')).config.max_msgs_per_subject).toBe(1);
    // A stream with other subjects likewise.
    await ensureStream(jsm, { name: 'T', subjects: ['t.>'], max_msgs_per_subject: 1 });
    const e2 = await ensureStream(jsm, { name: 'T', subjects: ['t.>', 'u.>'], max_msgs_per_subject: 1 }).catch((e: unknown) => e);
    expect((e2 as StreamMismatchError).differences).toEqual(['subjects: found ["t.>"], expected ["t.>","u.>"]']);
  });

  it('streams - a create that loses a race and is told "subjects overlap" (nats-server 2.9) checks the winner\'s stream; an overlap with another stream is refused', async () => {
    // The race, made deterministic with a small fake manager: not there when read, "subjects overlap"
    // when created (another node's create landed in between), there when read again.
    const wanted = { name: 'RACED', subjects: ['raced.>'], max_msgs_per_subject: 1 };
    let reads = 0;
    const fake = {
      streams: {
        info: async () => {
          if (reads++ === 0) throw new JetStreamApiError({ code: 404, err_code: 10059, description: 'stream not found' });
          return { config: { ...wanted } } as unknown as StreamInfo;
        },
        add: async () => {
          throw new JetStreamApiError({ code: 400, err_code: 10065, description: 'subjects overlap with an existing stream' });
        },
      },
    } as unknown as JetStreamManager;
    expect((await ensureStream(fake, wanted)).config.name).toBe('RACED');
    expect(reads).toBe(2);

    // A real overlap, with a stream of another name: the create's error, named.
    await using env = await natsSetup();
    const jsm = await jetstreamManager(env.nc);
    await jsm.streams.add({ name: 'OTHER', subjects: ['shared.>'] });
    const err = await ensureStream(jsm, { name: 'MINE', subjects: ['shared.>'] }).catch((e: unknown) => e);
    expect((err as Error).message).toMatch(/could not create JetStream stream MINE: subjects overlap/);
  });

  it('streams - replicas are written once by the first node; a node asking for others is refused; racing first nodes agree', async () => {
    await using env = await natsSetup();
    // A lone server: the default is 1. Five nodes start at once, none told: all get the same, one wrote it.
    const conns = await Promise.all(Array.from({ length: 5 }, () => connect({ servers: env.ns.url })));
    try {
      const all = await Promise.all(conns.map((nc, i) => loadClusterSettings(nc, { writer: `n${i}` })));
      expect(new Set(all.map((s) => s.replicas))).toEqual(new Set([1]));
      expect(new Set(all.map((s) => `${s.writtenBy}@${s.writtenAt}`)).size).toBe(1);
    } finally {
      for (const nc of conns) await nc.close();
    }
    // Told the same: fine. Told another count: refused, naming the writer and the fix.
    expect((await loadClusterSettings(env.nc, { writer: 'late', replicas: 1 })).replicas).toBe(1);
    const err = await loadClusterSettings(env.nc, { writer: 'storage-9', replicas: 3 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StreamMismatchError);
    expect((err as Error).message).toMatch(/--replicas 3.*say replicas 1.*Start it with --replicas 1, or without --replicas/s);
  });

  it('streams - first nodes racing on a three-server cluster (replicas 3, reads from any replica) all read the winner\'s settings', async () => {
    await using cl = await natsCluster(3);
    const conns = await Promise.all(Array.from({ length: 9 }, (_, i) => connect({ servers: cl.urls[i % 3]! })));
    try {
      for (let round = 0; round < 8; round++) {
        const prefix = `race${round}`;
        const all = await Promise.all(conns.map((nc, i) => loadClusterSettings(nc, { prefix, writer: `n${i}`, replicas: 3 })));
        expect(new Set(all.map((s) => `${s.writtenBy}@${s.writtenAt}`)).size).toBe(1);
      }
    } finally {
      for (const nc of conns) await nc.close();
    }
  }, 120_000);

  it('streams - the storage partitions are written with the settings; settings written before partitions existed say 1; a node asking for another count is refused', async () => {
    await using env = await natsSetup();
    const first = await loadClusterSettings(env.nc, { writer: 'storage-1', storePartitions: 4 });
    expect(first.storePartitions).toBe(4);
    // Nodes not told take the cluster's; one told the same is fine; one told another count is refused.
    expect((await loadClusterSettings(env.nc, { writer: 'socket-1' })).storePartitions).toBe(4);
    expect((await loadClusterSettings(env.nc, { writer: 'socket-2', storePartitions: 4 })).storePartitions).toBe(4);
    const err = await loadClusterSettings(env.nc, { writer: 'storage-2', storePartitions: 2 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StreamMismatchError);
    expect((err as Error).message).toMatch(/--store-partitions 2.*written by storage-1.*say 4\. Start it with --store-partitions 4, or without the flag/s);
    await expect(loadClusterSettings(env.nc, { writer: 'x', storePartitions: 0 })).rejects.toThrow(/whole number of at least 1, got 0/);

    // Settings of an earlier release (no partition count): its data is unpartitioned.
    await using old = await natsSetup();
    await loadClusterSettings(old.nc, { writer: 'old' });
    const kv = await new Kvm(old.nc).open('sm_cluster');
    await kv.put('settings', encode({ replicas: 1, writtenBy: 'old-release', writtenAt: 1 }));
    expect((await loadClusterSettings(old.nc, { writer: 'new' })).storePartitions).toBe(1);
    await expect(loadClusterSettings(old.nc, { writer: 'new', storePartitions: 8 })).rejects.toThrow(/say 1\./);
  });
  it('streams - an existing duplicate_window at least the wanted one is accepted (the store index stream before 30 s); a shorter one is refused', async () => {
    await using env = await natsSetup();
    const jsm = await jetstreamManager(env.nc);
    const s30 = 30_000_000_000;
    // Created without a window: the server's 2-minute default, as index streams of earlier versions.
    await ensureStream(jsm, { name: 'OLD', subjects: ['old.>'] });
    expect((await jsm.streams.info('OLD')).config.duplicate_window).toBe(120_000_000_000);
    await expect(ensureStream(jsm, { name: 'OLD', subjects: ['old.>'], duplicate_window: s30 })).resolves.toBeDefined();
    // A new stream gets the window asked for.
    await ensureStream(jsm, { name: 'NEW', subjects: ['new.>'], duplicate_window: s30 });
    expect((await jsm.streams.info('NEW')).config.duplicate_window).toBe(s30);
    // Shorter than asked: a retry could pass as a new write, so it is named.
    await ensureStream(jsm, { name: 'SHORT', subjects: ['short.>'], duplicate_window: 5_000_000_000 });
    const err = await ensureStream(jsm, { name: 'SHORT', subjects: ['short.>'], duplicate_window: s30 }).catch((e: unknown) => e);
    expect((err as StreamMismatchError).differences).toEqual([`duplicate_window: found 5000000000, expected ${s30}`]);
  });
});
