/**
 * Live connections per user, across the cluster (SocketServerOptions.maxConnectionsPerUser).
 *
 * A JetStream KV bucket `<prefix>_user_sessions` holds, per user key, the user's live connections:
 * {deviceKey: [node, admission]} (admission: a number unique per connection on its node). A connection is admitted at the upgrade with a compare-and-set update
 * that adds it, unless the user already has the maximum of *other* devices live (the same device
 * reconnecting, here or on another node, is never refused: it replaces its older session). Closing
 * removes the entry if it is still this node's. Entries of nodes that are not live members are dropped
 * at every update, so a node that died leaves nothing behind for long; a key whose last entry went is
 * removed by its revision (runtime KeyRemoval: an update made meanwhile survives, no marker stays).
 *
 * Cost: one KV read and one write at each upgrade and at each close, per user key (one user's devices
 * contend only with each other).
 */
import { JetStreamApiCodes, JetStreamApiError } from '@nats-io/jetstream';
import type { KV } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/nats-core';
import { decode, encode } from '../../protocol/mod.js';
import { FenceError } from './errors.js';
import { ensureBucket, KeyRemoval, StreamMismatchError } from '../../runtime/mod.js';

/** deviceKey -> [node, admission]: `admission` tells a device's connections on one node apart. */
type Entries = Record<string, [node: string, admission: number]>;

const ATTEMPTS = 8;

function isWrongSequence(err: unknown): boolean {
  return (
    err instanceof JetStreamApiError &&
    (err.code === JetStreamApiCodes.StreamWrongLastSequence || err.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown)
  );
}

function entriesOf(value: Uint8Array | undefined): Entries {
  if (value === undefined || value.length === 0) return {};
  const v = decode(value) as unknown;
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return {};
  const out: Entries = {};
  for (const [k, e] of Object.entries(v as Record<string, unknown>)) {
    if (Array.isArray(e) && typeof e[0] === 'string' && typeof e[1] === 'number') out[k] = [e[0], e[1]];
  }
  return out;
}

export class UserSessions {
  readonly #kv: KV;
  readonly #removal: KeyRemoval;

  private constructor(kv: KV, nc: NatsConnection, bucket: string) {
    this.#kv = kv;
    this.#removal = new KeyRemoval(nc, bucket);
  }

  static async open(nc: NatsConnection, prefix: string, replicas: number): Promise<UserSessions> {
    const bucket = `${prefix}_user_sessions`;
    try {
      const kv = await ensureBucket(nc, { bucket, replicas, history: 1, description: 'Syncmesh live connections per user (the connection quota)' });
      return new UserSessions(kv, nc, bucket);
    } catch (err) {
      if (err instanceof StreamMismatchError) throw err;
      throw new FenceError(`could not open the user sessions bucket ${bucket}: is JetStream enabled on the NATS servers?`, { cause: err });
    }
  }

  /**
   * Adds (userKey, deviceKey) on `node` unless the user has `max` other devices live; resolves with
   * whether it was admitted. `isLive` says which nodes' entries still count.
   */
  async admit(userKey: string, deviceKey: string, node: string, admission: number, max: number, isLive: (node: string) => boolean): Promise<boolean> {
    let lastErr: unknown;
    for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
      try {
        const e = await this.#kv.get(userKey);
        const entries = e !== null && e.operation === 'PUT' ? entriesOf(e.value) : {};
        const live: Entries = {};
        for (const [k, v] of Object.entries(entries)) if (isLive(v[0])) live[k] = v;
        if (live[deviceKey] === undefined && Object.keys(live).length >= max) return false;
        live[deviceKey] = [node, admission];
        await this.#kv.put(userKey, encode(live), { previousSeq: e?.revision ?? 0 });
        return true;
      } catch (err) {
        lastErr = err;
        if (!isWrongSequence(err)) break;
      }
    }
    throw new FenceError(`could not count the live connections of user key ${userKey}`, { cause: lastErr });
  }

  /** Removes (userKey, deviceKey) if it is still this connection's (`node`, `admission`). */
  async leave(userKey: string, deviceKey: string, node: string, admission: number): Promise<void> {
    for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
      try {
        const e = await this.#kv.get(userKey);
        if (e === null || e.operation !== 'PUT') return;
        const entries = entriesOf(e.value);
        const mine = entries[deviceKey];
        if (mine === undefined || mine[0] !== node || mine[1] !== admission) return;
        delete entries[deviceKey];
        if (Object.keys(entries).length === 0) {
          await this.#removal.remove(e.revision);
          return;
        }
        await this.#kv.put(userKey, encode(entries), { previousSeq: e.revision });
        return;
      } catch (err) {
        if (!isWrongSequence(err)) throw new FenceError(`could not remove a connection of user key ${userKey}`, { cause: err });
      }
    }
  }
}
