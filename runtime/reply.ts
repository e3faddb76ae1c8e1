/**
 * Answering an ask from inside a machine: reply()/replyError() find where the answer goes from the
 * event object alone. An event that came from a tell has no answer address, and replying to it does
 * nothing (returns false).
 *
 * Two places hold answer addresses, so the common case allocates nothing and never changes the
 * event object (adding a property to a decoded message would change its hidden class, and every
 * later access to it would pay for that):
 *
 * - the delivery stack: while an ask's event is being handled synchronously (`actor.send`), its
 *   address sits in parallel arrays indexed by nesting depth (a handler may tell or ask a local
 *   actor, which runs its handler inside the first). A reply() during the handler is answered
 *   from there;
 * - a WeakMap from event to {@link ReplyTo}: for an ask that waits in a mailbox, is forwarded, or
 *   is still unanswered when its handler returns (the machine replies later, from a promise or
 *   another event). Such an event keeps its address as long as the event object lives.
 */
import { appErrorParts, WireCodes } from './errors.js';
import type { ActorMessage } from './types.js';

/** Where answers go: implemented by the node (locally, or published to the asker's reply subject). */
export interface ReplySink {
  replyOk(node: string, corr: number, value: unknown): void;
  replyFail(node: string, corr: number, code: string, message: string, appCode?: string): void;
}

/**
 * Slack on an ask's deadline before it counts as passed: the deadline is on the asker's clock, and
 * nodes' clocks may differ by this much. An ask answered within it still reaches a waiting asker.
 */
export const DEADLINE_SLACK_MS = 250;

/** True when an ask of `deadline` (ms since the epoch, 0: none) is past it: its asker has given up. */
export function pastDeadline(deadline: number, now = Date.now()): boolean {
  return deadline !== 0 && now > deadline + DEADLINE_SLACK_MS;
}

/** The answer address of one ask. Answered at most once. */
export class ReplyTo {
  done = false;
  constructor(
    readonly sink: ReplySink,
    readonly node: string,
    readonly corr: number,
    /** When the asker stops waiting (ms since the epoch on its clock), 0 for none (envelope.ts). */
    readonly deadline = 0,
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

const marks = new WeakMap<object, ReplyTo>();

// The delivery stack (parallel arrays, reused: no allocation per ask).
const stackEvent: (object | undefined)[] = [];
const stackSink: (ReplySink | undefined)[] = [];
const stackNode: string[] = [];
const stackCorr: number[] = [];
const stackDeadline: number[] = [];
/** 0 waiting for an answer, 1 answered or moved to the WeakMap. */
const stackDone: number[] = [];
let depth = 0;

/**
 * Runs `handle(event)` with `event` answerable to (sink, node, corr) during the call. If the handler
 * did not answer, the address moves to the WeakMap so a later reply() still finds it.
 */
export function handleAsk<A>(event: ActorMessage, sink: ReplySink, node: string, corr: number, handle: (arg: A, event: ActorMessage) => void, arg: A, deadline = 0): void {
  const d = depth++;
  stackEvent[d] = event;
  stackSink[d] = sink;
  stackNode[d] = node;
  stackCorr[d] = corr;
  stackDeadline[d] = deadline;
  stackDone[d] = 0;
  try {
    handle(arg, event);
  } finally {
    depth = d;
    if (stackDone[d] === 0) marks.set(event, new ReplyTo(sink, node, corr, deadline));
    stackEvent[d] = undefined;
    stackSink[d] = undefined;
  }
}

/** Index in the delivery stack of `event` waiting for an answer, or -1. Searched from the top (usually depth 1). */
function stackIndex(event: object): number {
  for (let i = depth - 1; i >= 0; i--) if (stackEvent[i] === event) return stackDone[i] === 0 ? i : -1;
  return -1;
}

/** The answer address of an event, if it was delivered for an ask and is not answered yet. */
export function replyToOf(event: unknown): ReplyTo | undefined {
  if (typeof event !== 'object' || event === null) return undefined;
  const i = depth === 0 ? -1 : stackIndex(event);
  if (i >= 0) {
    // Needed as an object (forward, refuse, failure): move it off the stack, to the WeakMap.
    stackDone[i] = 1;
    const to = new ReplyTo(stackSink[i]!, stackNode[i]!, stackCorr[i]!, stackDeadline[i]!);
    marks.set(event, to);
    return to;
  }
  const r = marks.get(event);
  return r !== undefined && !r.done ? r : undefined;
}

/**
 * True when `event` is an ask past its deadline (it waited in a mailbox, was forwarded, or waited in
 * an actor's own queue while its asker gave up): it is then answered `timeout` (harmless if nobody
 * listens) and must not be run. An asker that gave up may have sent it again (the client library
 * resends a commit with its txid), and running the old one too would apply it twice once the store's
 * txid window has moved past it. The runtime checks it for its mailboxes; an actor that queues asks
 * itself (a promise chain) calls it before starting the work of one that waited.
 */
export function askExpired(event: object, now = Date.now()): boolean {
  const r = marks.get(event);
  if (r === undefined || r.done || !pastDeadline(r.deadline, now)) return false;
  r.fail(WireCodes.timeout, `the ask waited past its deadline (${now - r.deadline} ms late) and was not run; the asker had given up`);
  return true;
}

/** Marks `event` (owned by the runtime: a decoded or copied message) as answerable to `to`. */
export function markForReply<T extends object>(event: T, to: ReplyTo): T {
  marks.set(event, to);
  return event;
}

/**
 * Answers the ask that delivered `event` with `value` (any MessagePack value when the asker is on
 * another node). Returns false when `event` came from a tell or was answered already.
 */
export function reply(event: ActorMessage, value: unknown): boolean {
  if (depth !== 0 && typeof event === 'object' && event !== null) {
    const i = stackIndex(event);
    if (i >= 0) {
      stackDone[i] = 1;
      stackSink[i]!.replyOk(stackNode[i]!, stackCorr[i]!, value);
      return true;
    }
  }
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
