/**
 * What a socket node announces in its cluster membership entry, and how a distributor reads it back:
 * the keys are written once, here. A member is a socket server when it has the role `socket`, is not
 * draining, and its meta holds `socketHost` (string), `socketPort` (number), `socketUrl` (ws:// or
 * wss://) and optionally `capacity` (number > 0, the rendezvous weight; default 1). A member missing any
 * of these is ignored (it may still be starting) until an update brings them.
 *
 * `socketRun` is a random id of the socket node's current run (process start). The distributor puts
 * it in each ticket and the node accepts only tickets of its own run, so a ticket issued before the
 * node restarted cannot be used after: tickets are single use with a replay memory in the node's
 * process alone (gateway/ticket.ts), with no cluster-wide record to write at every upgrade.
 */

/** The role a socket-server node has. */
export const SOCKET_ROLE = 'socket';

/** The meta keys of a socket node's announcement. */
export const SocketMetaKey = {
  host: 'socketHost',
  port: 'socketPort',
  url: 'socketUrl',
  capacity: 'capacity',
  run: 'socketRun',
} as const;

/** A socket server as announced: where clients connect and its weight. */
export interface SocketAnnouncement {
  readonly host: string;
  readonly port: number;
  /** What clients open (with `?ticket=` appended): ws:// or wss://. */
  readonly url: string;
  /** Rendezvous weight. */
  readonly weight: number;
  /** The node's current run (undefined from a node of an earlier version, whose tickets carry none). */
  readonly run?: string;
}

/** The meta a socket node announces. */
export function socketMeta(a: { host: string; port: number; url: string; capacity?: number; run?: string }): Record<string, string | number> {
  const meta: Record<string, string | number> = {
    [SocketMetaKey.host]: a.host,
    [SocketMetaKey.port]: a.port,
    [SocketMetaKey.url]: a.url,
  };
  if (a.capacity !== undefined) meta[SocketMetaKey.capacity] = a.capacity;
  if (a.run !== undefined) meta[SocketMetaKey.run] = a.run;
  return meta;
}

/**
 * The socket server a member's meta announces, or undefined when it announces none (yet). Role and
 * draining are the caller's to check: they live outside the meta.
 */
export function readSocketMeta(meta: Readonly<Record<string, unknown>>): SocketAnnouncement | undefined {
  const host = meta[SocketMetaKey.host];
  const port = meta[SocketMetaKey.port];
  const url = meta[SocketMetaKey.url];
  const capacity = meta[SocketMetaKey.capacity];
  if (typeof host !== 'string' || host === '') return undefined;
  if (typeof port !== 'number' || !Number.isInteger(port) || port <= 0 || port > 65_535) return undefined;
  if (typeof url !== 'string' || !/^wss?:\/\//.test(url)) return undefined;
  // A malformed capacity is a configuration mistake, not a reason to drop a live server.
  const weight = typeof capacity === 'number' && capacity > 0 && Number.isFinite(capacity) ? capacity : 1;
  const run = meta[SocketMetaKey.run];
  return typeof run === 'string' && run !== '' ? { host, port, url, weight, run } : { host, port, url, weight };
}
