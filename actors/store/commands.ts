/**
 * Device commands ("send tab"): kept durably per target device until that device acknowledges them.
 *
 * A command is one message in the command stream (layout.ts), payload MessagePack
 * `{n, fromDevice, fromConnectionId, body, createdAt}` where `n` is a random nonce, listed in its
 * target device's index (index-codec.ts) by (sequence, nonce). Its id is `<sequence>-<nonce>`: unique,
 * ordered by time of sending, and it locates the message directly. The nonce makes ids unguessable:
 * an ack must name a command that was really sent to the acking device.
 *
 * Devices: a device becomes known to the storage at its first `pending` (the look-up every session
 * makes at connect), or its first commit or send, which adds it to the user's index; at most
 * maxDevicesPerUser devices (the look-up of one more is answered quota_exceeded; its commits and sends
 * work). Commands go only to known devices of the same user.
 *
 * - send: refused with quota_exceeded when the target device is unknown or already holds
 *   maxPendingCommands unacknowledged commands. The command is appended, then the device index
 *   naming it is written (compare-and-set); if that write loses, the command is deleted, never listed.
 * - pending: registers the device, then its commands, oldest first (read by sequence: the cost does
 *   not grow with other users' data), and its delivered notices.
 * - ack: keeps a delivered notice in the sender device's index, removes the command from the target's
 *   index, deletes the message, and returns the sender's connection id for `delivered`. An id that is
 *   unknown, already acknowledged, malformed or another device's is a no-op (`acked: false`).
 *
 * Delivered notices: the live `delivered` push misses a sender that is between connections, so each
 * ack also keeps the command id in the sender device's index, before the command is removed: a failed
 * notice write fails the ack, the command stays and the device acks it again (a notice already kept
 * is not kept twice). `pending` lists the notices with the commands (`delivered`, and
 * `deliveredThrough`, the number of the last one); the session sends them and then calls
 * clearDelivered. The newest maxPendingCommands notices are kept. At-least-once: a notice also pushed
 * live is sent again at the next connect, and one listed on a connection that closes before the clear
 * comes again.
 */
import { randomBytes } from 'node:crypto';
import { decode, encode, ownString } from '../../protocol/mod.js';
import { connectionId } from '../../protocol/cluster/mod.js';
import type { ClearDeliveredResult, PendingCommand, PendingResult, SendResult } from '../messages.js';
import { discard, type StoreContext } from './context.js';
import { BadRequestError, QuotaExceededError, StaleWriteError } from './errors.js';
import { decodeDevice, decodeUser, encodeDevice, encodeUser, type DeviceIndex } from './index-codec.js';
import type { StoredMessage } from './reader.js';
import type { UserState } from './user-state.js';
import { encodeLimited, requireName } from './validate.js';
import { storedSize } from './room.js';
import { append, writeIndex } from './writes.js';

/** What send() reads from a SendRequest. */
export interface SendInput {
  readonly userId: string;
  readonly fromDevice: string;
  readonly fromConnectionId: string;
  readonly toDevice: string;
  readonly body: unknown;
}

/** What ack() reads from an AckRequest. */
export interface AckInput {
  readonly userId: string;
  readonly deviceId: string;
  readonly commandId: string;
}

/** What pending() reads from a PendingRequest. */
export interface PendingInput {
  readonly userId: string;
  readonly deviceId: string;
}

/** What clearDelivered() reads from a ClearDeliveredRequest. */
export interface ClearDeliveredInput {
  readonly userId: string;
  readonly deviceId: string;
  /** The number of the last notice to remove (PendingResult.deliveredThrough). */
  readonly through: number;
}

/** The outcome of an ack. `fromConnectionId` is set when this ack removed the command. */
export interface AckOutcome {
  readonly acked: boolean;
  readonly fromConnectionId?: string;
}

interface StoredCommand {
  n: string;
  fromDevice: string;
  fromConnectionId: string;
  body: unknown;
  createdAt: number;
}

const COMMAND_ID = /^([1-9][0-9]{0,15})-([0-9a-f]{16})$/;

function readCommand(m: StoredMessage): StoredCommand | undefined {
  try {
    const c = decode(m.data) as Partial<StoredCommand> | null;
    if (c && typeof c.n === 'string' && typeof c.fromDevice === 'string' && typeof c.fromConnectionId === 'string') {
      return c as StoredCommand;
    }
  } catch {
    // Not written by this module: treated as no command (below), never delivered.
  }
  return undefined;
}

async function saveDevice(ctx: StoreContext, s: UserState, deviceId: string, before: DeviceIndex, next: Omit<DeviceIndex, 'seq'>): Promise<DeviceIndex> {
  const seq = await writeIndex(ctx, `the index of device ${JSON.stringify(deviceId)}`, ctx.layout.deviceIndex(s.userId, deviceId), encodeDevice(next), before.seq);
  const saved = { ...next, seq };
  s.setDevice(deviceId, saved);
  return saved;
}

/**
 * Makes `deviceId` a known device of the user (devices quota). `quiet`: a device over the quota is left
 * unknown without an error (a commit or send must not fail for it; its pending look-up says why).
 */
export async function register(ctx: StoreContext, s: UserState, deviceId: string, quiet = false): Promise<void> {
  const user = await s.user();
  if (user.devices.includes(deviceId)) return;
  if (user.devices.length >= ctx.limits.maxDevicesPerUser) {
    if (quiet) return;
    throw new QuotaExceededError(
      `this user already has ${user.devices.length} devices; the quota is ${ctx.limits.maxDevicesPerUser} devices per user. This device stays connected but receives no commands and no pushes (it still reads everything with pull); use one of the known devices`,
    );
  }
  // A copy: the decoded id is a slice of the whole request's text, which the cached index would keep alive.
  const next = { collections: user.collections, devices: [...user.devices, ownString(deviceId)] };
  const seq = await writeIndex(ctx, "the user's index", ctx.layout.userIndex(s.userId), encodeUser(next), user.seq);
  s.setUser({ ...next, seq });
  s.noteNewDevice({ deviceId: next.devices.at(-1)!, revs: await s.cachedRevs() });
}

export async function send(ctx: StoreContext, input: SendInput): Promise<SendResult> {
  const { limits, layout } = ctx;
  const userId = requireName('userId', input.userId, limits.maxIdBytes);
  const fromDevice = requireName('fromDevice', input.fromDevice, limits.maxIdBytes);
  const toDevice = requireName('toDevice', input.toDevice, limits.maxIdBytes);
  // The sender's connection id is where `delivered` goes later: it must be this user's, this device's.
  if (input.fromConnectionId !== connectionId(userId, fromDevice)) {
    throw new BadRequestError('fromConnectionId is not the connection id of (userId, fromDevice)');
  }
  if (input.body === undefined) throw new BadRequestError('a command needs a body');
  encodeLimited('the command body', input.body, limits.maxCommandBytes);
  return ctx.states.write(userId, async (s) => {
    await register(ctx, s, fromDevice, true);
    const user = await s.user();
    if (!user.devices.includes(toDevice)) {
      throw new QuotaExceededError(`device ${JSON.stringify(toDevice)} has never connected as a device of this user; commands go only to known devices (a device becomes known when it first connects)`);
    }
    const dev = await s.device(toDevice);
    if (dev.commands.length >= limits.maxPendingCommands) {
      throw new QuotaExceededError(
        `device ${JSON.stringify(toDevice)} already has ${dev.commands.length} unacknowledged commands; the quota is ${limits.maxPendingCommands}. Send more once it has connected and acknowledged them`,
      );
    }
    const n = randomBytes(8).toString('hex');
    const stored: StoredCommand = { n, fromDevice, fromConnectionId: input.fromConnectionId, body: input.body, createdAt: Date.now() };
    const subject = layout.command(userId, toDevice, n);
    const payload = encode(stored);
    await ctx.rooms.commands.take(storedSize(subject, payload.length), 'the command');
    const seq = await append(ctx, 'the command', subject, payload);
    try {
      await saveDevice(ctx, s, toDevice, dev, { ...dev, commands: [...dev.commands, { seq, nonce: n }] });
    } catch (err) {
      if (err instanceof StaleWriteError || err instanceof QuotaExceededError) discard(ctx, layout.commandStream, [seq], 'a send lost its index write');
      throw err;
    }
    return { commandId: `${seq}-${n}` };
  });
}

export async function pending(ctx: StoreContext, input: PendingInput): Promise<PendingResult> {
  const { limits } = ctx;
  const userId = requireName('userId', input.userId, limits.maxIdBytes);
  const deviceId = requireName('deviceId', input.deviceId, limits.maxIdBytes);
  return ctx.states.write(userId, async (s) => {
    await register(ctx, s, deviceId);
    let dev = await s.device(deviceId);
    const messages = await Promise.all(dev.commands.map((c) => ctx.commands.at(c.seq)));
    const commands: PendingCommand[] = [];
    const gone = new Set<number>();
    dev.commands.forEach((ref, i) => {
      const m = messages[i];
      const c = m ? readCommand(m) : undefined;
      if (!c || c.n !== ref.nonce) {
        gone.add(ref.seq); // expired (commandTtlMs) or not ours: dropped from the index below
        return;
      }
      commands.push({ commandId: `${ref.seq}-${ref.nonce}`, fromDevice: c.fromDevice, body: c.body });
    });
    if (gone.size > 0) dev = await saveDevice(ctx, s, deviceId, dev, { ...dev, commands: dev.commands.filter((c) => !gone.has(c.seq)) });
    if (dev.notices.length === 0) return { commands };
    return { commands, delivered: dev.notices.map((x) => x.commandId), deliveredThrough: dev.notices.at(-1)!.no };
  });
}

/**
 * Whether `pending` would answer nothing and change nothing for this device: it is registered in the
 * user's index and its device index holds no command and no delivered notice. Read from the stored
 * indexes (two reads side by side), not from the user's cache, and outside the user's write order: it
 * changes nothing, and a command sent meanwhile reaches the device's session as a push. The answer of
 * most connects, given without activating the user's store actor (store-actor.ts); false sends the
 * request on to the actor's `pending`, which registers a new device and reads the commands.
 */
export async function nothingPending(ctx: StoreContext, input: PendingInput): Promise<boolean> {
  const { limits, layout } = ctx;
  const userId = requireName('userId', input.userId, limits.maxIdBytes);
  const deviceId = requireName('deviceId', input.deviceId, limits.maxIdBytes);
  const [u, d] = await Promise.all([ctx.indexes.last(layout.userIndex(userId)), ctx.indexes.last(layout.deviceIndex(userId, deviceId))]);
  if (u === null || !decodeUser(u.seq, u.data).devices.includes(deviceId)) return false;
  if (d === null) return true;
  const dev = decodeDevice(d.seq, d.data);
  return dev.commands.length === 0 && dev.notices.length === 0;
}

export async function clearDelivered(ctx: StoreContext, input: ClearDeliveredInput): Promise<ClearDeliveredResult> {
  const { limits } = ctx;
  const userId = requireName('userId', input.userId, limits.maxIdBytes);
  const deviceId = requireName('deviceId', input.deviceId, limits.maxIdBytes);
  if (!Number.isSafeInteger(input.through) || input.through < 1) {
    throw new BadRequestError('through must be a positive integer, the deliveredThrough of a pending answer');
  }
  return ctx.states.write(userId, async (s) => {
    const dev = await s.device(deviceId);
    const notices = dev.notices.filter((x) => x.no > input.through);
    // Removes only notices up to `through`: one kept since stays.
    if (notices.length !== dev.notices.length) await saveDevice(ctx, s, deviceId, dev, { ...dev, notices });
    return { cleared: true };
  });
}

export async function ack(ctx: StoreContext, input: AckInput): Promise<AckOutcome> {
  const { limits, layout } = ctx;
  const userId = requireName('userId', input.userId, limits.maxIdBytes);
  const deviceId = requireName('deviceId', input.deviceId, limits.maxIdBytes);
  if (typeof input.commandId !== 'string' || input.commandId.length > 64) {
    throw new BadRequestError('commandId must be a string of at most 64 characters');
  }
  const parsed = COMMAND_ID.exec(input.commandId);
  if (!parsed) return { acked: false };
  const seq = Number(parsed[1]);
  const nonce = parsed[2]!;
  return ctx.states.write(userId, async (s) => {
    // Only the target device can remove a command: it must be listed in this device's index, same nonce.
    const dev = await s.device(deviceId);
    if (!dev.commands.some((c) => c.seq === seq && c.nonce === nonce)) return { acked: false };
    const m = await ctx.commands.at(seq);
    const c = m ? readCommand(m) : undefined;
    const remaining = dev.commands.filter((x) => x.seq !== seq);
    if (!c || c.n !== nonce) {
      await saveDevice(ctx, s, deviceId, dev, { ...dev, commands: remaining });
      return { acked: false };
    }
    // The notice first: if removing the command then fails, the device acks again and the notice is not doubled.
    const withNotice = (d: DeviceIndex): Omit<DeviceIndex, 'seq'> => {
      if (d.notices.some((x) => x.commandId === input.commandId)) return d;
      const no = d.noticeNo + 1;
      return { ...d, notices: [...d.notices, { no, commandId: input.commandId }].slice(-limits.maxPendingCommands), noticeNo: no };
    };
    if (c.fromDevice === deviceId) {
      await saveDevice(ctx, s, deviceId, dev, { ...withNotice(dev), commands: remaining });
    } else {
      const sender = await s.device(c.fromDevice);
      const next = withNotice(sender);
      if (next !== sender) await saveDevice(ctx, s, c.fromDevice, sender, next);
      await saveDevice(ctx, s, deviceId, dev, { ...dev, commands: remaining });
    }
    discard(ctx, layout.commandStream, [seq], 'acknowledged');
    return { acked: true, fromConnectionId: c.fromConnectionId };
  });
}
