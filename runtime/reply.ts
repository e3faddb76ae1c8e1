/**
 * Answering an ask from inside a machine. The runtime marks each event delivered for an ask with a
 * hidden symbol property holding where the answer goes; reply()/replyError() read it. An event that
 * came from a tell has no mark, and replying to it does nothing (returns false).
 */
import { appErrorParts, WireCodes } from './errors.js';
import type { ActorMessage } from './types.js';

/** Where answers go: implemented by the node (locally, or published to the asker's reply subject). */
export interface ReplySink {
  replyOk(node: string, corr: number, value: unknown): void;
  replyFail(node: string, corr: number, code: string, message: string, appCode?: string): void;
}

/** The mark on an event delivered for an ask. Answered at most once. */
export class ReplyTo {
  done = false;
  constructor(
    readonly sink: ReplySink,
    readonly node: string,
    readonly corr: number,
  ) {}

  ok(value: unknown): boolean {
    if (this.done) return false;
    this.done = true;
    this.sink.replyOk(this.node, this.corr, value);
    return true;
  }

  fail(code: string, message: string, appCode?: string): boolean {
    if (this.done) return false;
    this.done = true;
    this.sink.replyFail(this.node, this.corr, code, message, appCode);
    return true;
  }
}

export const REPLY_TO: unique symbol = Symbol('syncmesh.replyTo');

type Marked = { [REPLY_TO]?: ReplyTo };

/** The reply mark of an event, if it was delivered for an ask and is not answered yet. */
export function replyToOf(event: unknown): ReplyTo | undefined {
  if (typeof event !== 'object' || event === null) return undefined;
  const r = (event as Marked)[REPLY_TO];
  return r !== undefined && !r.done ? r : undefined;
}

/** Marks `event` (owned by the runtime: a decoded or copied message) as answerable. */
export function markForReply<T extends object>(event: T, to: ReplyTo): T {
  (event as Marked)[REPLY_TO] = to;
  return event;
}

/**
 * Answers the ask that delivered `event` with `value` (any MessagePack value when the asker is on
 * another node). Returns false when `event` came from a tell or was answered already.
 */
export function reply(event: ActorMessage, value: unknown): boolean {
  const to = replyToOf(event);
  return to !== undefined && to.ok(value);
}

/**
 * Fails the ask that delivered `event`: the asker's promise rejects with RemoteActorError carrying
 * `error.code` (when a string, else `error`) as `appCode` and `error.message`.
 */
export function replyError(event: ActorMessage, error: unknown): boolean {
  const to = replyToOf(event);
  if (to === undefined) return false;
  const { appCode, message } = appErrorParts(error);
  return to.fail(WireCodes.actorError, message, appCode);
}
