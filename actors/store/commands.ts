/**
 * Device commands ("send tab"): kept durably per target device until that device acknowledges them.
 *
 * A command is one message on its target device's subject in the command stream (see layout.ts),
 * payload MessagePack `{n, fromDevice, fromConnectionId, body, createdAt}` where `n` is a random
 * nonce. Its id is `<stream sequence>-<nonce>`: unique, ordered by time of sending, and it locates
 * the message directly, so an ack costs one read and one delete, no index. The nonce makes ids
 * unguessable: an ack must name a command that was really sent to the acking device.
 *
 * - send: refused with rate_limited once the device holds maxPendingCommands unacknowledged
 *   commands (JetStream enforces it per subject, atomically).
 * - pending: the device's commands, oldest first.
 * - ack: keeps a delivered notice for the sender device, deletes the command and returns the sender's
 *   connection id, for `delivered`. An id that is unknown, already acknowledged, malformed or another
 *   device's is a no-op (`acked: false`).
 *
 * Delivered notices: the live `delivered` push misses a sender that is between connections, so each
 * ack also stores `{commandId}` on the sender device's notice subject (layout.ts), before the command
 * is deleted: a failed notice write fails the ack, the command stays and the device acks it again.
 * The write carries a message id (`dlv:<commandId>`) so two racing acks store one notice. `pending`
 * lists the notices with the commands; the session sends them and then calls clearDelivered, which
 * purges the subject up to the last one listed. At-least-once: a notice also pushed live is sent again
 * at the next connect, and one listed on a connection that closes before the clear comes again.
 */
import { randomBytes } from 'node:crypto';
import { JetStreamApiError, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import { decode, encode } from '../../protocol/mod.js';
import { connectionId } from '../../protocol/cluster/mod.js';
import type { ClearDeliveredResult, PendingCommand, PendingResult, SendResult } from '../messages.js';
import { BadRequestError, RateLimitedError, StoreUnavailableError } from './errors.js';
import type { StoreLayout } from './layout.js';
import type { StoreLimits } from './limits.js';
import type { StoredMessage, StreamReader } from './reader.js';
import { retryTransient } from './retry.js';
import { encodeLimited, requireName } from './validate.js';

export interface CommandContext {
  readonly js: JetStreamClient;
  readonly jsm: JetStreamManager;
  /** Reader of the command stream. */
  readonly reader: StreamReader;
  /** Reader of the delivered-notice stream. */
  readonly noticeReader: StreamReader;
  readonly layout: StoreLayout;
  readonly limits: StoreLimits;
  /** Deadline of one JetStream request. */
  readonly timeoutMs: number;
  /** How long a write keeps retrying while JetStream is unreachable (retry.ts). */
  readonly retryForMs: number;
}

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
  /** The last notice sequence to remove (PendingResult.deliveredThrough). */
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

interface StoredNotice {
  commandId: string;
}

const MAX_MSGS_PER_SUBJECT_EXCEEDED = 10077;
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

function readNotice(m: StoredMessage): StoredNotice | undefined {
  try {
    const n = decode(m.data) as Partial<StoredNotice> | null;
    if (n && typeof n.commandId === 'string') return n as StoredNotice;
  } catch {
    // Not written by this module: skipped, and cleared with the rest.
  }
  return undefined;
}

export async function send(ctx: CommandContext, input: SendInput): Promise<SendResult> {
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
  const n = randomBytes(8).toString('hex');
  const stored: StoredCommand = { n, fromDevice, fromConnectionId: input.fromConnectionId, body: input.body, createdAt: Date.now() };
  try {
    const subject = layout.commands(userId, toDevice);
    const payload = encode(stored);
    const ack = await retryTransient(ctx.retryForMs, () => ctx.js.publish(subject, payload, { timeout: ctx.timeoutMs }));
    return { commandId: `${ack.seq}-${n}` };
  } catch (err) {
    if (err instanceof JetStreamApiError && err.code === MAX_MSGS_PER_SUBJECT_EXCEEDED) {
      throw new RateLimitedError(
        `device ${JSON.stringify(toDevice)} already has ${limits.maxPendingCommands} unacknowledged commands; send more once it has connected and acknowledged them`,
        { cause: err },
      );
    }
    throw new StoreUnavailableError(`storing the command failed: ${(err as Error).message}; retry later`, { cause: err });
  }
}

export async function pending(ctx: CommandContext, input: PendingInput): Promise<PendingResult> {
  const { limits, layout, reader } = ctx;
  const userId = requireName('userId', input.userId, limits.maxIdBytes);
  const deviceId = requireName('deviceId', input.deviceId, limits.maxIdBytes);
  const subject = layout.commands(userId, deviceId);
  const commands: PendingCommand[] = [];
  let seq = 1;
  // JetStream keeps at most maxPendingCommands here; the bound also stops a loop on a surprise.
  while (commands.length < limits.maxPendingCommands) {
    const m = await reader.next(subject, seq);
    if (!m) break;
    seq = m.seq + 1;
    const c = readCommand(m);
    if (c) commands.push({ commandId: `${m.seq}-${c.n}`, fromDevice: c.fromDevice, body: c.body });
  }
  const delivered: string[] = [];
  const notices = layout.notices(userId, deviceId);
  let through = 0;
  // The notice stream keeps at most maxPendingCommands per sender device (older ones are dropped).
  for (let i = 0; i < limits.maxPendingCommands; i++) {
    const m = await ctx.noticeReader.next(notices, through + 1);
    if (!m) break;
    through = m.seq;
    const n = readNotice(m);
    if (n) delivered.push(n.commandId);
  }
  return through === 0 ? { commands } : { commands, delivered, deliveredThrough: through };
}

export async function clearDelivered(ctx: CommandContext, input: ClearDeliveredInput): Promise<ClearDeliveredResult> {
  const { limits, layout } = ctx;
  const userId = requireName('userId', input.userId, limits.maxIdBytes);
  const deviceId = requireName('deviceId', input.deviceId, limits.maxIdBytes);
  if (!Number.isSafeInteger(input.through) || input.through < 1) {
    throw new BadRequestError('through must be a positive integer, the deliveredThrough of a pending answer');
  }
  const filter = layout.notices(userId, deviceId);
  try {
    // Purges only this device's subject and only notices up to `through`: one stored since stays.
    await retryTransient(ctx.retryForMs, () => ctx.jsm.streams.purge(layout.noticeStream, { filter, seq: input.through + 1 }));
  } catch (err) {
    throw new StoreUnavailableError(`clearing delivered notices failed: ${(err as Error).message}; they are sent again at the next connect`, { cause: err });
  }
  return { cleared: true };
}

export async function ack(ctx: CommandContext, input: AckInput): Promise<AckOutcome> {
  const { limits, layout, reader } = ctx;
  const userId = requireName('userId', input.userId, limits.maxIdBytes);
  const deviceId = requireName('deviceId', input.deviceId, limits.maxIdBytes);
  if (typeof input.commandId !== 'string' || input.commandId.length > 64) {
    throw new BadRequestError('commandId must be a string of at most 64 characters');
  }
  const parsed = COMMAND_ID.exec(input.commandId);
  if (!parsed) return { acked: false };
  const seq = Number(parsed[1]);
  if (!Number.isSafeInteger(seq)) return { acked: false };
  const m = await reader.at(seq);
  // Only the target device can remove a command: same subject (user and device) and same nonce.
  if (!m || m.subject !== layout.commands(userId, deviceId)) return { acked: false };
  const c = readCommand(m);
  if (!c || c.n !== parsed[2]) return { acked: false };
  try {
    const notice: StoredNotice = { commandId: input.commandId };
    const subject = layout.notices(userId, c.fromDevice);
    await retryTransient(ctx.retryForMs, () => ctx.js.publish(subject, encode(notice), { timeout: ctx.timeoutMs, msgID: `dlv:${input.commandId}` }));
  } catch (err) {
    throw new StoreUnavailableError(`keeping the delivered notice of ${input.commandId} failed: ${(err as Error).message}; retry the ack later`, { cause: err });
  }
  try {
    await retryTransient(ctx.retryForMs, () => ctx.jsm.streams.deleteMessage(layout.commandStream, seq, false));
  } catch (err) {
    // Two acks of one command racing: the loser finds it gone and reports nothing to deliver.
    if (err instanceof JetStreamApiError && !(await reader.at(seq))) return { acked: false };
    throw new StoreUnavailableError(`removing command ${input.commandId} failed: ${(err as Error).message}; retry the ack later`, { cause: err });
  }
  return { acked: true, fromConnectionId: c.fromConnectionId };
}
