/**
 * The node's JetStream KV buckets: `<prefix>_leases` (single activation of virtual actors) and
 * `<prefix>_snapshots` (persisted actors), opened only when a hosted kind needs them.
 */
import type { NatsConnection } from '@nats-io/nats-core';
import type { KV } from '@nats-io/kv';
import { StreamMismatchError, UnavailableError } from './errors.js';
import { ensureBucket } from './streams.js';
import { JetStreamRequests } from './jetstream-requests.js';
import { KeyRemoval } from './key-removal.js';
import { KvRequests } from './kv-requests.js';
import { LeaseStore } from './leases.js';
import type { LocalActors } from './local-actors.js';
import { SnapshotStore } from './snapshots.js';

/**
 * Opens the buckets the kinds of `actors` need and hands them to it. Returns the request channel the
 * leases use (close it once the node's actors have stopped), or undefined when no kind needs a bucket.
 */
export async function openStores(nats: NatsConnection, prefix: string, replicas: number, nodeId: string, actors: LocalActors): Promise<JetStreamRequests | undefined> {
  const specs = [...actors.specs.values()];
  if (!specs.some((s) => s.virtual || s.persist)) return undefined;
  const open = async (name: string): Promise<KV> => {
    try {
      // One helper for every bucket of the cluster: created with the cluster's settings, or checked.
      return await ensureBucket(nats, { bucket: name, replicas, history: 1, description: 'Syncmesh actor runtime' });
    } catch (err) {
      if (err instanceof StreamMismatchError) throw err;
      throw new UnavailableError(
        `could not open JetStream KV bucket ${name}: ${(err as Error).message}. Virtual and persisted actors need a nats-server with JetStream enabled (nats-server -js)`,
        { cause: err },
      );
    }
  };
  const leaseBucket = `${prefix}_leases`;
  // Leases are read and written on every activation: over one reply subscription (kv-requests.ts).
  const requests = new JetStreamRequests(nats);
  let leases: LeaseStore | undefined;
  try {
    if (specs.some((s) => s.virtual)) {
      await open(leaseBucket);
      leases = new LeaseStore(new KvRequests(requests, leaseBucket), nodeId, new KeyRemoval(requests, leaseBucket));
    }
    actors.leases = leases;
    if (specs.some((s) => s.persist)) {
      actors.snapshots = new SnapshotStore(await open(`${prefix}_snapshots`), {
        stillOwner: async (cell) => {
          if (!leases || !cell.spec.virtual) return true;
          const h = await leases.holder(cell.key);
          return h !== undefined && h.node === nodeId && h.epoch === cell.life.leaseEpoch;
        },
        fenced: (cell) => actors.fenced(cell),
      });
    }
  } catch (err) {
    requests.close();
    throw err;
  }
  return requests;
}
