/**
 * startNode(): validates the options, connects to NATS (unless given a connection) and starts a
 * node. The node itself is runtime/node.ts.
 */
import { connect } from '@nats-io/transport-node';
import type { NatsConnection } from '@nats-io/nats-core';
import { coalesceWrites } from './write-coalescing.js';
import { NODE_ID_PATTERN } from './envelope.js';
import { RuntimeConfigError, UnavailableError } from './errors.js';
import { ROLE_PATTERN } from './membership.js';
import { NodeImpl } from './node.js';
import type { ActorNode, NodeOptions } from './types.js';

function randomNodeId(): string {
  return `n-${Math.random().toString(36).slice(2, 10)}`;
}

/**
 * Starts a node: connects (unless given a connection), opens the KV buckets its kinds need, and
 * joins the cluster. Resolves after a short discovery round, so the first placement already sees
 * the existing members. Throws RuntimeConfigError on bad options and UnavailableError when NATS or
 * JetStream is not reachable.
 */
export async function startNode(options: NodeOptions): Promise<ActorNode> {
  const id = options.nodeId ?? randomNodeId();
  if (!NODE_ID_PATTERN.test(id) || id === 'hb') throw new RuntimeConfigError(`node id ${JSON.stringify(id)} must be 1-64 characters of [A-Za-z0-9_-] and not "hb"`);
  const prefix = options.prefix ?? 'sm';
  if (!/^[A-Za-z0-9_-]{1,32}$/.test(prefix)) throw new RuntimeConfigError(`prefix ${JSON.stringify(prefix)} must be 1-32 characters of [A-Za-z0-9_-]`);
  for (const r of options.roles ?? []) {
    if (!ROLE_PATTERN.test(r)) throw new RuntimeConfigError(`role ${JSON.stringify(r)} must be 1-32 characters of [A-Za-z0-9_-]: roles name membership subjects`);
  }
  const hb = options.heartbeatMs ?? 1_000;
  const down = options.downAfterMs ?? 3_000;
  if (!(hb > 0) || !(down > hb)) throw new RuntimeConfigError(`downAfterMs (${down}) must be greater than heartbeatMs (${hb}), both positive`);
  const wait = options.hostWaitMs ?? 0;
  const cap = options.hostWaitCapacity ?? 1;
  if (!(Number.isFinite(wait) && wait >= 0)) throw new RuntimeConfigError(`hostWaitMs (${wait}) must be a finite number of milliseconds, 0 or more`);
  if (!(Number.isInteger(cap) && cap >= 1)) throw new RuntimeConfigError(`hostWaitCapacity (${cap}) must be a whole number, 1 or more`);
  const passivations = options.maxPassivationsInFlight ?? 1;
  if (!(Number.isInteger(passivations) && passivations >= 1)) throw new RuntimeConfigError(`maxPassivationsInFlight (${passivations}) must be a whole number, 1 or more`);
  const own = typeof options.nats === 'string' || Array.isArray(options.nats);
  let nc: NatsConnection;
  if (own) {
    const servers = options.nats as string | string[];
    try {
      nc = await connect({ servers, name: `syncmesh-${id}`, maxReconnectAttempts: -1, reconnectTimeWait: 250, noAsyncTraces: true });
      coalesceWrites(nc);
    } catch (err) {
      throw new UnavailableError(`could not connect to NATS at ${String(servers)}: ${(err as Error).message}. Is nats-server running there?`, { cause: err });
    }
  } else {
    nc = options.nats as NatsConnection;
  }
  const node = new NodeImpl(nc, own, options, id);
  try {
    await node.start();
  } catch (err) {
    if (own) await nc.close().catch(() => undefined);
    throw err;
  }
  return node;
}
