/**
 * Settings that belong to the whole cluster, not to one node: the JetStream replica count of every
 * stream and bucket, and the storage's partition count (how users' data is split over streams: it
 * decides where every user's data is, so it never changes for a cluster's data). They live in the KV
 * bucket `<prefix>_cluster`, key `settings`, written once, by the first node that starts, with a
 * compare-and-set create (two first nodes cannot both win). Every later node reads them from there, so
 * a socket node started without `--replicas` creates the session fence with the same replicas as the
 * storage node created the data streams.
 *
 * A node started with an explicit replica count that differs from the stored one refuses to start
 * and says which node wrote the settings and how to fix it. Without an explicit count, the first
 * node of a cluster picks 3 when its NATS server is part of a cluster (its INFO names one) and 1 on
 * a lone server.
 */
import { jetstreamManager, JetStreamApiError } from '@nats-io/jetstream';
import type { KV } from '@nats-io/kv';
import { Kvm } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/nats-core';
import { decode, encode, toSafeInteger } from './codec.js';
import { StreamMismatchError, StreamSetupError } from './errors.js';
import { ensureBucket, isTransientJsError, settle } from './streams.js';

/** The cluster-wide settings. */
export interface ClusterSettings {
  /** JetStream replicas of every stream and KV bucket (1-5). */
  readonly replicas: number;
  /** Storage partitions (actors/store layout.ts); 1 in settings written before partitions existed. */
  readonly storePartitions: number;
  /** Who wrote them first, and when (ms since the epoch): for messages that explain a mismatch. */
  readonly writtenBy: string;
  readonly writtenAt: number;
}

export interface ClusterSettingsOptions {
  /** Subject prefix of the cluster (default `sm`): the bucket is `<prefix>_cluster`. */
  readonly prefix?: string;
  /** Replicas this node was told to use; absent: whatever the cluster says (or the default). */
  readonly replicas?: number;
  /** Storage partitions this node was told to use; absent: whatever the cluster says (or 1). */
  readonly storePartitions?: number;
  /** Names this node in the stored settings (a node id or role list). */
  readonly writer: string;
}

const KEY = 'settings';
const STREAM_NOT_FOUND = 10059;

/** The replica count a first node picks when not told: 3 on a clustered NATS server, else 1. */
export function defaultReplicas(nc: NatsConnection): number {
  return nc.info?.cluster ? 3 : 1;
}

function read(value: Uint8Array): ClusterSettings | undefined {
  try {
    const v = decode(value) as Record<string, unknown>;
    const replicas = toSafeInteger(v['replicas']);
    if (replicas === undefined || replicas < 1 || replicas > 5) return undefined;
    const partitions = v['storePartitions'] === undefined ? 1 : toSafeInteger(v['storePartitions']);
    if (partitions === undefined || partitions < 1) return undefined;
    return { replicas, storePartitions: partitions, writtenBy: String(v['writtenBy'] ?? '?'), writtenAt: toSafeInteger(v['writtenAt']) ?? 0 };
  } catch {
    return undefined;
  }
}

/**
 * The cluster's settings: read from `<prefix>_cluster`, or written there now by this node. Rejects
 * with StreamMismatchError when `options.replicas` disagrees with the stored settings, and with
 * StreamSetupError when JetStream cannot be reached or the stored value is unreadable.
 */
export async function loadClusterSettings(nc: NatsConnection, options: ClusterSettingsOptions): Promise<ClusterSettings> {
  const prefix = options.prefix ?? 'sm';
  const asked = options.replicas;
  if (asked !== undefined && !(Number.isInteger(asked) && asked >= 1 && asked <= 5)) {
    throw new StreamSetupError(`replicas must be a whole number from 1 to 5, got ${asked}`);
  }
  const askedPartitions = options.storePartitions;
  if (askedPartitions !== undefined && !(Number.isInteger(askedPartitions) && askedPartitions >= 1)) {
    throw new StreamSetupError(`storage partitions must be a whole number of at least 1, got ${askedPartitions}`);
  }
  const bucket = `${prefix}_cluster`;
  const kv = await openOrCreate(nc, bucket, asked ?? defaultReplicas(nc));
  let entry = await settle(() => kv.get(KEY));
  if (entry === null || entry.operation !== 'PUT') {
    const mine: ClusterSettings = { replicas: asked ?? defaultReplicas(nc), storePartitions: askedPartitions ?? 1, writtenBy: options.writer, writtenAt: Date.now() };
    try {
      await settle(() => kv.create(KEY, encode(mine)));
      return mine;
    } catch (err) {
      if (isTransientJsError(err)) throw new StreamSetupError(`could not write the cluster settings to ${bucket}: ${(err as Error).message}; is the NATS cluster up?`, { cause: err });
      // Another first node won the race: its settings are the cluster's. Reads may be answered by a
      // replica (Direct Get) that has not applied the winner's write yet: read until it has.
      entry = await settle(() => kv.get(KEY));
      for (let wait = 25; (entry === null || entry.operation !== 'PUT') && wait <= 1_600; wait *= 2) {
        await new Promise((r) => setTimeout(r, wait));
        entry = await settle(() => kv.get(KEY));
      }
    }
  }
  const stored = entry && entry.operation === 'PUT' ? read(entry.value) : undefined;
  if (stored === undefined) {
    throw new StreamSetupError(
      `the cluster settings in KV bucket ${bucket} (key ${KEY}) are missing or unreadable; an operator writes them again with \`nats kv put ${bucket} ${KEY}\` ` +
        'or removes the bucket so the next node writes them (docs/deployment.md)',
    );
  }
  if (asked !== undefined && asked !== stored.replicas) {
    throw new StreamMismatchError(
      `this node was started with --replicas ${asked}, but the cluster's settings (KV ${bucket}, written by ${stored.writtenBy} at ` +
        `${new Date(stored.writtenAt).toISOString()}) say replicas ${stored.replicas}. Start it with --replicas ${stored.replicas}, or without --replicas; ` +
        `to change the cluster's replicas, see docs/deployment.md ("Changing the replica count").`,
      bucket,
      [`replicas: found ${stored.replicas}, expected ${asked}`],
    );
  }
  if (askedPartitions !== undefined && askedPartitions !== stored.storePartitions) {
    throw new StreamMismatchError(
      `this node was started with --store-partitions ${askedPartitions}, but the cluster's settings (KV ${bucket}, written by ${stored.writtenBy} at ` +
        `${new Date(stored.writtenAt).toISOString()}) say ${stored.storePartitions}. Start it with --store-partitions ${stored.storePartitions}, or without the flag: ` +
        "the partition count decides which streams hold each user's data and is fixed when the cluster is created (docs/deployment.md, \"Storage partitions\").",
      bucket,
      [`storePartitions: found ${stored.storePartitions}, expected ${askedPartitions}`],
    );
  }
  return stored;
}

/** The settings bucket: opened when it exists (with whatever replicas it has), else created. */
async function openOrCreate(nc: NatsConnection, bucket: string, replicas: number): Promise<KV> {
  try {
    const jsm = await jetstreamManager(nc, { checkAPI: false });
    await settle(() => jsm.streams.info(`KV_${bucket}`));
    return await new Kvm(nc).open(bucket, { allow_direct: true });
  } catch (err) {
    if (!(err instanceof JetStreamApiError && err.code === STREAM_NOT_FOUND)) {
      throw new StreamSetupError(`could not read the cluster settings bucket ${bucket}: ${(err as Error).message}; is JetStream enabled, and may this NATS user use it?`, { cause: err });
    }
  }
  return ensureBucket(nc, { bucket, replicas, description: 'Syncmesh cluster-wide settings (replicas), written once by the first node' });
}
