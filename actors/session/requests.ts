/**
 * Client requests turned into store asks and answered on the socket.
 *
 * Requests of one connection are sent to the store in arrival order (asks from one sender to one
 * actor keep their order), and answered as the store answers, each with its own `id`. Failures
 * become `{t:"error", id, code, message}`: the store's protocol codes pass through, everything else
 * is `internal` with a message that says what to do, never a stack trace.
 */
import { ErrorCode, encode, errorFrame, isErrorCode } from '../../protocol/mod.js';
import type { RequestId } from '../../protocol/mod.js';
import { AskTimeoutError, MailboxFullError, RemoteActorError } from '../../runtime/mod.js';
import type { ClearDeliveredResult, CommitResult, PendingResult, PullResult, SendResult } from '../messages.js';
import type { SessionPort } from './port.js';
import { parseClientFrame } from './wire.js';

/** The error frame for a failed store ask. */
export function askErrorFrame(err: unknown, id: RequestId | undefined): Uint8Array {
  if (err instanceof RemoteActorError && isErrorCode(err.appCode)) return errorFrame(err.appCode, err.message, id);
  if (err instanceof AskTimeoutError) return errorFrame(ErrorCode.internal, 'storage did not answer in time; retry the request', id);
  if (err instanceof MailboxFullError) return errorFrame(ErrorCode.rateLimited, 'storage is busy for this user; retry the request later', id);
  return errorFrame(ErrorCode.internal, 'storage is unavailable; retry the request later', id);
}

function logFailure(port: SessionPort, what: string, err: unknown): void {
  // Expected answers (a conflict-free bad_request, say) are the client's business; the rest is ours.
  if (err instanceof RemoteActorError && isErrorCode(err.appCode) && err.appCode !== ErrorCode.internal) return;
  port.logger.warn({ err, connectionId: port.connectionId, request: what }, 'store request failed');
}

/** Handles one decoded client frame. Never throws. */
export function handleFrame(port: SessionPort, frame: unknown): void {
  const parsed = parseClientFrame(frame);
  if (!parsed.ok) {
    port.send(errorFrame(parsed.problem.code, parsed.problem.message, parsed.problem.id));
    return;
  }
  const req = parsed.request;
  if (!port.beginRequest()) {
    port.send(errorFrame(ErrorCode.rateLimited, 'too many requests in flight on this connection; wait for answers', req.id));
    return;
  }
  const { userId, deviceId, connectionId } = port;
  let answer: Promise<Uint8Array | undefined>;
  switch (req.t) {
    case 'commit':
      answer = port
        .ask<CommitResult>(
          req.txid === undefined
            ? { type: 'commit', userId, deviceId, connectionId, collection: req.collection, changes: req.changes }
            : { type: 'commit', userId, deviceId, connectionId, collection: req.collection, changes: req.changes, txid: req.txid },
        )
        .then((r) => encode(r.from === undefined ? { t: 'committed', id: req.id, rev: r.rev, conflicts: r.conflicts } : { t: 'committed', id: req.id, rev: r.rev, conflicts: r.conflicts, from: r.from }));
      break;
    case 'pull':
      answer = port
        .ask<PullResult>({ type: 'pull', userId, deviceId, collection: req.collection, since: req.since })
        .then((r) => encode({ t: 'changes', id: req.id, collection: req.collection, rev: r.rev, changes: r.changes, more: r.more }));
      break;
    case 'send':
      answer = port
        .ask<SendResult>({ type: 'send', userId, fromDevice: deviceId, fromConnectionId: connectionId, toDevice: req.toDevice, body: req.body })
        .then((r) => encode({ t: 'sent', id: req.id, commandId: r.commandId }));
      break;
    case 'ack':
      answer = port.ask<unknown>({ type: 'ack', userId, deviceId, commandId: req.commandId }).then(() => undefined);
      break;
  }
  answer
    .then(
      (bytes) => {
        if (bytes !== undefined) port.send(bytes);
      },
      (err: unknown) => {
        logFailure(port, req.t, err);
        port.send(askErrorFrame(err, req.id));
      },
    )
    // Last safety net: a throw while answering (encoding, a closed socket) must never end the process.
    .catch((err: unknown) => port.logger.error({ err, connectionId: port.connectionId, request: req.t }, 'could not answer a request'))
    .finally(() => port.endRequest());
}

const PENDING_ATTEMPTS = 3;

/**
 * Sends the device commands waiting for this device (store `pending`) as `command` frames, and the
 * delivered notices kept for it (acks of commands it sent, made while it may have been between
 * connections) as `delivered` frames. A failed fetch is retried a few times; both stay stored either way
 * and come with the next connect.
 *
 * Notices are cleared in the store once sent on this live session. There is no client frame to
 * acknowledge them: a notice sent on a socket that dies before the client reads it is lost, the same
 * as a live push; one listed but not cleared (the clear failed, the session closed first) is sent
 * again at the next connect, and clients drop repeats by commandId.
 */
export function deliverPending(port: SessionPort, attempt = 1): void {
  if (port.closing) return;
  port
    .ask<PendingResult>({ type: 'pending', userId: port.userId, deviceId: port.deviceId })
    .then((r) => {
      port.started();
      for (const c of r.commands) port.send(encode({ t: 'command', commandId: c.commandId, fromDevice: c.fromDevice, body: c.body }));
      const delivered = r.delivered ?? [];
      if (r.deliveredThrough === undefined || port.closing) return;
      for (const commandId of delivered) port.send(encode({ t: 'delivered', commandId }));
      clearDelivered(port, r.deliveredThrough);
    })
    .catch((err: unknown) => {
      // The start is over either way: a retry waits in the background, it is not the node's load.
      port.started();
      if (attempt >= PENDING_ATTEMPTS) {
        port.logger.warn({ err, connectionId: port.connectionId }, 'could not fetch pending commands; they come with the next connect');
        return;
      }
      setTimeout(() => deliverPending(port, attempt + 1), 250 * attempt).unref();
    });
}

/** Removes the notices just sent. A failure only means they are sent again at the next connect. */
function clearDelivered(port: SessionPort, through: number): void {
  port
    .ask<ClearDeliveredResult>({ type: 'clearDelivered', userId: port.userId, deviceId: port.deviceId, through })
    .catch((err: unknown) => port.logger.warn({ err, connectionId: port.connectionId }, 'could not clear sent delivered notices; they repeat at the next connect'));
}
