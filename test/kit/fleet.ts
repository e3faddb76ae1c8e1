/**
 * Test kit: a fleet of client-library devices (several users, several devices each) against a real
 * cluster, each watched from outside: every socket it opened (URL, welcome, close code, the raw frames
 * that matter to fault tests), every status change, every command and `delivered` it got. Fault tests
 * read these records to check what a user would have seen, without reaching into the client.
 *
 *   await using fleet = await startFleet({ url: cluster.url, tag: 'r1', devicesPerUser: [2, 3, 4, 2], collections: ['c'] });
 *   await fleet.whenAllConnected(30_000);
 */
import { randomUUID } from 'node:crypto';
import WebSocket from 'ws';
import { createSyncClient } from '../../client/client.js';
import type { WebSocketConstructor } from '../../client/transport.js';
import { CloseCode } from '../../protocol/mod.js';
import type { ConnectionStatus, SyncClient } from '../../client/types.js';
import { decode } from '../../protocol/mod.js';
import { devToken } from './device.js';

/** One WebSocket a device opened, as seen from the device. */
export interface SocketRecord {
  readonly url: string;
  readonly openedAt: number;
  welcomedAt?: number;
  /** Node id from the welcome. */
  node?: string;
  closedAt?: number;
  closeCode?: number;
  /** The transport error before the close, if any (ECONNRESET, say). */
  error?: string;
  /** Frames received on this socket, and when the last one came. */
  frames: number;
  lastFrameAt?: number;
  /** When a `drain` frame arrived on this socket, and the delay it asked for. */
  drain?: { readonly at: number; readonly retryAfterMs: number };
}

export interface StatusRecord {
  readonly at: number;
  readonly status: ConnectionStatus;
  readonly node?: string;
  readonly retryInMs?: number;
  readonly reason?: string;
}

export interface ReceivedCommand {
  readonly commandId: string;
  readonly fromDevice: string;
  readonly body: unknown;
  readonly at: number;
}

export interface FleetDevice {
  readonly userId: string;
  readonly deviceId: string;
  readonly client: SyncClient;
  readonly sockets: SocketRecord[];
  readonly statuses: StatusRecord[];
  /** `command` events the application saw (the client drops redeliveries of commands it acked). */
  readonly commands: ReceivedCommand[];
  /** `command` frames on the wire, by commandId: more than one means the server delivered it again. */
  readonly commandFrames: Map<string, number>;
  readonly delivered: Set<string>;
  /** `error` events: name and message. */
  readonly errors: string[];
  /**
   * Broken invariants seen as they happened (a welcome while an earlier socket of this device was still
   * open, a `replaced` close): each would mean two live sessions for this device's connection id.
   */
  readonly violations: string[];
}

/** What is recorded about a device, without its client. */
type DeviceRecords = Omit<FleetDevice, 'client'>;

export interface FleetOptions {
  /** Distributor URL. */
  readonly url: string;
  /** Goes into every user id, so runs and tests never share users. */
  readonly tag: string;
  /** Number of devices of each user: one user per entry. */
  readonly devicesPerUser: readonly number[];
  /** Collections every client pulls on each (re)connect. */
  readonly collections: readonly string[];
}

export interface Fleet {
  readonly users: readonly string[];
  readonly devices: readonly FleetDevice[];
  /** The devices of one user. */
  byUser(userId: string): FleetDevice[];
  /** Resolves once every device is connected; rejects with the stragglers' statuses after `timeoutMs`. */
  whenAllConnected(timeoutMs: number): Promise<void>;
  /** Closes every client. */
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/** Close code `replaced` (gateway/socket/close-codes.ts). */
const REPLACED = CloseCode.replaced;

/** A `ws` class recording each socket of one device into `dev`. */
function watchedWebSocket(dev: DeviceRecords): WebSocketConstructor {
  return class WatchedWebSocket extends WebSocket {
    constructor(url: string) {
      super(url);
      const rec: SocketRecord = { url, openedAt: Date.now(), frames: 0 };
      const earlier = [...dev.sockets];
      dev.sockets.push(rec);
      this.on('message', (data: Buffer) => {
        rec.frames++;
        rec.lastFrameAt = Date.now();
        let frame: { t?: unknown; node?: unknown; retryAfterMs?: unknown; commandId?: unknown };
        try {
          frame = decode(data) as typeof frame;
        } catch {
          return; // the client reports undecodable frames itself
        }
        if (frame.t === 'welcome') {
          rec.welcomedAt = Date.now();
          if (typeof frame.node === 'string') rec.node = frame.node;
          // Earlier sockets must be fully closed (not merely closing) before this one is live.
          const live = earlier.filter((s) => s.closedAt === undefined);
          if (live.length > 0) {
            dev.violations.push(`${dev.deviceId}: welcome on ${url.split('?')[0]} while ${live.length} earlier socket(s) were not closed`);
          }
        } else if (frame.t === 'drain') {
          rec.drain = { at: Date.now(), retryAfterMs: Number(frame.retryAfterMs) };
        } else if (frame.t === 'command' && typeof frame.commandId === 'string') {
          dev.commandFrames.set(frame.commandId, (dev.commandFrames.get(frame.commandId) ?? 0) + 1);
        }
      });
      this.on('error', (err: Error & { code?: string }) => {
        rec.error = err.code ?? err.message;
      });
      this.on('close', (code: number) => {
        rec.closedAt = Date.now();
        rec.closeCode = code;
        if (code === REPLACED) dev.violations.push(`${dev.deviceId}: socket closed with 4100 replaced (another session took its connection id)`);
      });
    }
  };
}

export async function startFleet(options: FleetOptions): Promise<Fleet> {
  const run = randomUUID().slice(0, 8);
  const users = options.devicesPerUser.map((_, i) => `${options.tag}-${run}-u${i}`);
  // One token per user: the distributor rate-limits per user, and a reconnect storm should not ask for tokens.
  const tokens = new Map(await Promise.all(users.map(async (u) => [u, await devToken(options.url, u)] as const)));
  const devices: FleetDevice[] = [];
  options.devicesPerUser.forEach((count, i) => {
    const userId = users[i]!;
    for (let d = 0; d < count; d++) devices.push(makeDevice(options, userId, `d${d}`, tokens.get(userId)!));
  });
  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => (closing ??= Promise.all(devices.map((d) => d.client.close())).then(() => undefined));
  return {
    users,
    devices,
    byUser: (userId) => devices.filter((d) => d.userId === userId),
    whenAllConnected: async (timeoutMs) => {
      const results = await Promise.allSettled(devices.map((d) => d.client.whenConnected(timeoutMs)));
      const stuck = devices.filter((_, i) => results[i]!.status === 'rejected');
      if (stuck.length > 0) {
        throw new Error(`${stuck.length} device(s) not connected within ${timeoutMs} ms: ${stuck.map((d) => `${d.userId}/${d.deviceId} ${describeLastStatus(d)}`).join('; ')}`);
      }
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}

function makeDevice(options: FleetOptions, userId: string, deviceId: string, token: string): FleetDevice {
  const records: DeviceRecords = {
    userId,
    deviceId,
    sockets: [],
    statuses: [],
    commands: [],
    commandFrames: new Map(),
    delivered: new Set(),
    errors: [],
    violations: [],
  };
  const client = createSyncClient({
    distributorUrl: options.url,
    userId,
    deviceId,
    getToken: () => Promise.resolve(token),
    WebSocket: watchedWebSocket(records),
    collections: options.collections,
    autoConnect: false,
  });
  client.on('status', (e) =>
    records.statuses.push({
      at: Date.now(),
      status: e.status,
      ...(e.node !== undefined && { node: e.node }),
      ...(e.retryInMs !== undefined && { retryInMs: e.retryInMs }),
      ...(e.reason !== undefined && { reason: e.reason }),
    }),
  );
  client.on('command', (e) => {
    records.commands.push({ commandId: e.commandId, fromDevice: e.fromDevice, body: e.body, at: Date.now() });
    e.ack();
  });
  client.on('delivered', (e) => records.delivered.add(e.commandId));
  client.on('error', (e) => records.errors.push(`${e.name}: ${e.message}`));
  // Listeners first, then connect: no early event is missed.
  client.reconnect();
  return { ...records, client };
}

/** "connected to socket-2" / "reconnecting (reason)": for failure messages. */
export function describeLastStatus(d: FleetDevice): string {
  const s = d.statuses.at(-1);
  if (!s) return 'no status yet';
  return `${s.status}${s.node ? ` to ${s.node}` : ''}${s.reason ? ` (${s.reason})` : ''}`;
}

/** The socket the device is connected over now, if any. */
export function currentSocket(d: FleetDevice): SocketRecord | undefined {
  const s = d.sockets.at(-1);
  return s && s.welcomedAt !== undefined && s.closedAt === undefined ? s : undefined;
}

/** `http://host:port/healthz` of the socket server behind a socket URL (`ws://host:port/ws?ticket=`). */
export function healthzUrl(socketUrl: string): string {
  const u = new URL(socketUrl);
  return `http://${u.host}/healthz`;
}

/**
 * A device's sockets as `node@opened w<welcomed> d<drain frame>+<retryAfterMs> c<close code>@<closed>
 * (error) N frames, last@<time>`, times in ms relative to `t0`: for failure messages.
 */
export function socketTimeline(sockets: readonly SocketRecord[], t0: number): string {
  return sockets
    .map((k) => {
      const w = k.welcomedAt !== undefined ? ` w${k.welcomedAt - t0}` : '';
      const d = k.drain !== undefined ? ` d${k.drain.at - t0}+${k.drain.retryAfterMs}` : '';
      const c = k.closedAt !== undefined ? ` c${k.closeCode}@${k.closedAt - t0}${k.error !== undefined ? ` (${k.error})` : ''}` : '';
      const f = k.lastFrameAt !== undefined ? ` ${k.frames} frames, last@${k.lastFrameAt - t0}` : '';
      return `${k.node ?? '?'}@${k.openedAt - t0}${w}${d}${c}${f}`;
    })
    .join(' | ');
}
