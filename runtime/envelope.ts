/**
 * The runtime's wire format: envelopes on `<prefix>.node.<nodeId>` and replies on
 * `<prefix>.reply.<nodeId>`. Each is a frame: one MessagePack array, positional, no field names.
 * A NATS message on these subjects carries one or more frames written back to back (outbox.ts
 * batches what is sent to one node within one event loop turn); read them with `decodeMany`.
 *
 * Envelope:  [op, kind, id, body, replyNode, corr, hops, deadline]   trailing nils may be left out
 *   op         Op below, plus EXPLICIT (8) when the target is an explicitly placed actor of the
 *              receiving node (its ref's node is the node the envelope is sent to, so the node id
 *              itself is not sent); without it the target is a virtual actor
 *   kind, id   the target actor
 *   body       TELL/ASK: the message (a map with a string `type`); SPAWN: the args; STOP: nil;
 *              WATCH/UNWATCH: [watcherKind, watcherId, watcherNode or nil, trackerNode or nil],
 *              trackerNode being the node that called watch() (it tells the watcher `node-down`);
 *              WATCH_MOVED (to the tracker): [watcherKind, watcherId, watcherNode or nil, atNode]:
 *              the watch followed the virtual actor to its lease holder `atNode` (follow.ts)
 *   replyNode  ASK/SPAWN/STOP: the node to answer (on its reply subject); else nil
 *   corr       ASK/SPAWN/STOP: the asker's correlation id (a safe integer); else nil
 *   hops       times the envelope was forwarded between nodes (virtual actors), nil = 0
 *   deadline   ASK: when the asker stops waiting (ms since the epoch, the asker's clock), nil = none.
 *              An ask still queued or in transit past it is answered `timeout` and not run: the
 *              asker has given up and may have sent it again (reply.ts askExpired). Forwards keep it.
 *
 * A tell is `[0, kind, id, message]`, an ask `[1, kind, id, message, replyNode, corr]`: the
 * fields a subject already implies (target node, sender) are not repeated.
 *
 * Reply:  [corr, value]                         success (2 elements)
 *         [corr, wireCode, message, appCode?]   failure (3 or 4 elements, see errors.ts)
 */
import { encode, toSafeInteger } from './codec.js';
import type { ActorMessage } from './types.js';

export const Op = {
  tell: 0,
  ask: 1,
  spawn: 2,
  stop: 3,
  watch: 4,
  unwatch: 5,
  watchMoved: 6,
} as const;
export type OpCode = (typeof Op)[keyof typeof Op];

/** Flag added to the op of an envelope whose target is an explicit actor of the receiving node. */
export const EXPLICIT = 8;

/** Positions in an envelope frame. */
export const F = { op: 0, kind: 1, id: 2, body: 3, replyNode: 4, corr: 5, hops: 6, deadline: 7 } as const;

/** Names: kinds, actor ids and node ids are bounded so a hostile peer cannot make us hold megabytes per key. */
export const MAX_KIND_LENGTH = 64;
export const MAX_ID_LENGTH = 512;
export const MAX_HOPS = 4;
export const NODE_ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;
export const KIND_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

export interface Subjects {
  /** Heartbeats go to `<heartbeat>.<role token>` (membership.ts). */
  readonly heartbeat: string;
  node(nodeId: string): string;
  reply(nodeId: string): string;
}

/** Subjects of one cluster (prefix). Node subjects are cached: they are built on every send. */
export function subjects(prefix: string): Subjects {
  const nodeCache = new Map<string, string>();
  const replyCache = new Map<string, string>();
  return {
    heartbeat: `${prefix}.hb`,
    node(nodeId) {
      let s = nodeCache.get(nodeId);
      if (s === undefined) nodeCache.set(nodeId, (s = `${prefix}.node.${nodeId}`));
      return s;
    },
    reply(nodeId) {
      let s = replyCache.get(nodeId);
      if (s === undefined) replyCache.set(nodeId, (s = `${prefix}.reply.${nodeId}`));
      return s;
    },
  };
}

/**
 * A decoded envelope frame that passed {@link checkEnvelope}: read it by position ({@link F}).
 * The hot path reads the fields straight from the decoded array; no object is built per message.
 */
export type EnvelopeFrame = readonly [op: number, kind: string, id: string, body: unknown, replyNode?: string | null, corr?: number | null, hops?: number | null, deadline?: number | null];

/** A decoded, validated envelope as an object: for control ops (spawn, stop, watch) and tests. */
export interface Envelope {
  op: OpCode;
  kind: string;
  id: string;
  /** The target is an explicit actor of the receiving node. */
  explicit: boolean;
  body: unknown;
  replyNode: string | undefined;
  corr: number | undefined;
  hops: number;
}

/** Why an envelope was refused, with the reply address when it could be read. */
export interface EnvelopeProblem {
  problem: string;
  replyNode: string | undefined;
  corr: number | undefined;
}

export function isMessage(value: unknown): value is ActorMessage {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && typeof (value as { type?: unknown }).type === 'string';
}

/** The last reply node that passed the pattern: asks from one node repeat it, a string compare is cheaper than the regex. */
let lastGoodReplyNode = '';

function replyNodeOf(raw: unknown): string | undefined {
  if (typeof raw !== 'string') return undefined;
  if (raw === lastGoodReplyNode) return raw;
  if (!NODE_ID_PATTERN.test(raw)) return undefined;
  lastGoodReplyNode = raw;
  return raw;
}

/**
 * Checks a decoded frame in place. Returns undefined when it is a well-formed envelope (then it is
 * an {@link EnvelopeFrame}, with `corr` and `hops` normalized to numbers or nil), else the problem,
 * with the reply address when it could be read so even a malformed ask gets an answer.
 */
export function checkEnvelope(raw: unknown): EnvelopeProblem | undefined {
  if (!Array.isArray(raw) || raw.length < 4) return { problem: 'envelope is not an array [op, kind, id, body, ...]', replyNode: undefined, corr: undefined };
  const f = raw as unknown[];
  const opFlags = f[0];
  const kind = f[1];
  const id = f[2];
  const replyNode = f.length > 4 ? replyNodeOf(f[4]) : undefined;
  let corr: number | undefined;
  if (f.length > 5) {
    const c = f[5];
    corr = typeof c === 'number' && Number.isSafeInteger(c) ? c : toSafeInteger(c);
    f[5] = corr;
  }
  if (typeof opFlags !== 'number' || !Number.isInteger(opFlags) || opFlags < 0 || (opFlags & ~EXPLICIT) > Op.watchMoved) return problem(`unknown op ${String(opFlags)}`, replyNode, corr);
  if (typeof kind !== 'string' || kind.length === 0 || kind.length > MAX_KIND_LENGTH) return problem('kind must be a string of 1-64 characters', replyNode, corr);
  if (typeof id !== 'string' || id.length > MAX_ID_LENGTH) return problem(`id must be a string of at most ${MAX_ID_LENGTH} characters`, replyNode, corr);
  const op = opFlags & ~EXPLICIT;
  if (op === Op.ask || op === Op.spawn || op === Op.stop) {
    if (replyNode === undefined || corr === undefined) return problem('ask, spawn and stop need a reply node and a correlation id', undefined, undefined);
  }
  if ((op === Op.tell || op === Op.ask) && !isMessage(f[3])) return problem('message must be a map with a string `type`', replyNode, corr);
  if (f.length > 6) {
    const hops = f[6] == null ? 0 : toSafeInteger(f[6]);
    if (hops === undefined || hops < 0) return problem('hops must be a small integer', replyNode, corr);
    f[6] = hops;
  }
  if (f.length > 7 && f[7] != null) {
    const deadline = toSafeInteger(f[7]);
    if (deadline === undefined || deadline < 0) return problem('deadline must be ms since the epoch', replyNode, corr);
    f[7] = deadline;
  }
  return undefined;
}

function problem(text: string, replyNode: string | undefined, corr: number | undefined): EnvelopeProblem {
  return { problem: text, replyNode, corr };
}

/** The frame as an object (control ops and tests). The frame must have passed {@link checkEnvelope}. */
export function envelopeOf(f: EnvelopeFrame): Envelope {
  const hops = f[F.hops];
  const replyNode = f[F.replyNode];
  const corr = f[F.corr];
  return {
    op: (f[F.op] & ~EXPLICIT) as OpCode,
    kind: f[F.kind],
    id: f[F.id],
    explicit: (f[F.op] & EXPLICIT) !== 0,
    body: f[F.body],
    replyNode: replyNode ?? undefined,
    corr: corr ?? undefined,
    hops: hops ?? 0,
  };
}

/** Decodes nothing: validates a decoded frame and returns it as an object, or the problem. */
export function readEnvelope(raw: unknown): Envelope | EnvelopeProblem {
  return checkEnvelope(raw) ?? envelopeOf(raw as EnvelopeFrame);
}

export function isProblem(e: Envelope | EnvelopeProblem): e is EnvelopeProblem {
  return (e as EnvelopeProblem).problem !== undefined;
}

/** TELL envelope bytes. */
export function tellBytes(kind: string, id: string, explicit: boolean, message: ActorMessage, hops = 0): Uint8Array {
  const op = explicit ? Op.tell | EXPLICIT : Op.tell;
  return hops === 0 ? encode([op, kind, id, message]) : encode([op, kind, id, message, undefined, undefined, hops]);
}

/** ASK envelope bytes. `deadline`: when the asker stops waiting (ms since the epoch), 0 for none. */
export function askBytes(kind: string, id: string, explicit: boolean, message: ActorMessage, replyNode: string, corr: number, hops = 0, deadline = 0): Uint8Array {
  const op = explicit ? Op.ask | EXPLICIT : Op.ask;
  if (deadline !== 0) return encode([op, kind, id, message, replyNode, corr, hops === 0 ? undefined : hops, deadline]);
  return hops === 0 ? encode([op, kind, id, message, replyNode, corr]) : encode([op, kind, id, message, replyNode, corr, hops]);
}

/** Any envelope (control ops and forwards). */
export function envelopeBytes(e: Envelope): Uint8Array {
  const op = e.explicit ? e.op | EXPLICIT : e.op;
  if (e.hops !== 0) return encode([op, e.kind, e.id, e.body, e.replyNode, e.corr, e.hops]);
  return e.replyNode === undefined && e.corr === undefined ? encode([op, e.kind, e.id, e.body]) : encode([op, e.kind, e.id, e.body, e.replyNode, e.corr]);
}

export function okReplyBytes(corr: number, value: unknown): Uint8Array {
  return encode([corr, value]);
}

export function errorReplyBytes(corr: number, code: string, message: string, appCode?: string): Uint8Array {
  return appCode === undefined ? encode([corr, code, message]) : encode([corr, code, message, appCode]);
}

/** A decoded reply, or undefined when it is not one. */
export interface Reply {
  corr: number;
  ok: boolean;
  value: unknown;
  code: unknown;
  message: unknown;
  appCode: unknown;
}

/** The correlation id of a decoded reply frame, or undefined when the frame is not a reply. */
export function replyCorr(raw: unknown): number | undefined {
  if (!Array.isArray(raw) || raw.length < 2 || raw.length > 4) return undefined;
  const c: unknown = raw[0];
  return typeof c === 'number' && Number.isSafeInteger(c) ? c : toSafeInteger(c);
}

/** A decoded reply frame as an object (tests; the node reads frames by position). */
export function readReply(raw: unknown): Reply | undefined {
  const corr = replyCorr(raw);
  if (corr === undefined) return undefined;
  const f = raw as unknown[];
  if (f.length === 2) return { corr, ok: true, value: f[1], code: undefined, message: undefined, appCode: undefined };
  return { corr, ok: false, value: undefined, code: f[1], message: f[2], appCode: f[3] };
}
