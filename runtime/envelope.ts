/**
 * The runtime's wire format: envelopes on `<prefix>.node.<nodeId>` and replies on
 * `<prefix>.reply.<nodeId>`, MessagePack arrays (compact, positional, no field names).
 *
 * Envelope:  [op, kind, id, node, body, replyNode, corr, hops]
 *   op         Op below
 *   kind, id   the target actor
 *   node       the target node for explicitly placed actors (ref.node), nil for virtual actors
 *   body       TELL/ASK: the message (a map with a string `type`); SPAWN: the args;
 *              WATCH/UNWATCH: [watcherKind, watcherId, watcherNode or nil]; STOP: nil
 *   replyNode  ASK/SPAWN/STOP: the node to answer (on its reply subject); else nil
 *   corr       ASK/SPAWN/STOP: the asker's correlation id (a safe integer); else nil
 *   hops       times the envelope was forwarded between nodes (virtual actors), nil = 0
 * Trailing nils may be left out.
 *
 * Reply:  [corr, 0, value]                         success
 *         [corr, 1, wireCode, message, appCode]    failure (see errors.ts)
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
} as const;
export type OpCode = (typeof Op)[keyof typeof Op];

/** Names: kinds, actor ids and node ids are bounded so a hostile peer cannot make us hold megabytes per key. */
export const MAX_KIND_LENGTH = 64;
export const MAX_ID_LENGTH = 512;
export const MAX_HOPS = 4;
export const NODE_ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;
export const KIND_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

export interface Subjects {
  readonly heartbeat: string;
  node(nodeId: string): string;
  reply(nodeId: string): string;
}

/** Subjects of one cluster (prefix). Node subjects are cached: they are built on every send. */
export function subjects(prefix: string): Subjects {
  const nodeCache = new Map<string, string>();
  const replyCache = new Map<string, string>();
  return {
    heartbeat: `${prefix}.node.hb`,
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

/** A decoded, validated envelope. */
export interface Envelope {
  op: OpCode;
  kind: string;
  id: string;
  node: string | undefined;
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

function problem(text: string, replyNode: string | undefined, corr: number | undefined): EnvelopeProblem {
  return { problem: text, replyNode, corr };
}

/** Decodes and validates an envelope. Never throws: a bad one comes back as an EnvelopeProblem. */
export function readEnvelope(raw: unknown): Envelope | EnvelopeProblem {
  if (!Array.isArray(raw) || raw.length < 3) return problem('envelope is not an array [op, kind, id, ...]', undefined, undefined);
  const [op, kind, id, node, body, replyNodeRaw, corrRaw, hopsRaw] = raw as unknown[];
  // Read the reply address first, so even a malformed envelope can be answered.
  const replyNode = typeof replyNodeRaw === 'string' && NODE_ID_PATTERN.test(replyNodeRaw) ? replyNodeRaw : undefined;
  const corr = toSafeInteger(corrRaw);
  if (typeof op !== 'number' || !Number.isInteger(op) || op < 0 || op > 5) return problem(`unknown op ${String(op)}`, replyNode, corr);
  if (typeof kind !== 'string' || kind.length === 0 || kind.length > MAX_KIND_LENGTH) return problem('kind must be a string of 1-64 characters', replyNode, corr);
  if (typeof id !== 'string' || id.length > MAX_ID_LENGTH) return problem(`id must be a string of at most ${MAX_ID_LENGTH} characters`, replyNode, corr);
  if (node != null && (typeof node !== 'string' || !NODE_ID_PATTERN.test(node))) return problem('node must be a node id or nil', replyNode, corr);
  const needsReply = op === Op.ask || op === Op.spawn || op === Op.stop;
  if (needsReply && (replyNode === undefined || corr === undefined)) return problem('ask, spawn and stop need a reply node and a correlation id', undefined, undefined);
  if ((op === Op.tell || op === Op.ask) && !isMessage(body)) return problem('message must be a map with a string `type`', replyNode, corr);
  const hops = hopsRaw == null ? 0 : toSafeInteger(hopsRaw);
  if (hops === undefined || hops < 0) return problem('hops must be a small integer', replyNode, corr);
  return { op: op as OpCode, kind, id, node: (node as string | null | undefined) ?? undefined, body, replyNode, corr, hops };
}

export function isProblem(e: Envelope | EnvelopeProblem): e is EnvelopeProblem {
  return (e as EnvelopeProblem).problem !== undefined;
}

/** TELL envelope bytes. */
export function tellBytes(kind: string, id: string, node: string | undefined, message: ActorMessage, hops = 0): Uint8Array {
  return hops === 0 ? encode([Op.tell, kind, id, node, message]) : encode([Op.tell, kind, id, node, message, undefined, undefined, hops]);
}

/** ASK envelope bytes. */
export function askBytes(kind: string, id: string, node: string | undefined, message: ActorMessage, replyNode: string, corr: number, hops = 0): Uint8Array {
  return hops === 0 ? encode([Op.ask, kind, id, node, message, replyNode, corr]) : encode([Op.ask, kind, id, node, message, replyNode, corr, hops]);
}

/** Any envelope (control ops and forwards). */
export function envelopeBytes(e: Envelope): Uint8Array {
  return encode([e.op, e.kind, e.id, e.node, e.body, e.replyNode, e.corr, e.hops]);
}

export function okReplyBytes(corr: number, value: unknown): Uint8Array {
  return encode([corr, 0, value]);
}

export function errorReplyBytes(corr: number, code: string, message: string, appCode?: string): Uint8Array {
  return encode([corr, 1, code, message, appCode]);
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

export function readReply(raw: unknown): Reply | undefined {
  if (!Array.isArray(raw) || raw.length < 2) return undefined;
  const corr = toSafeInteger(raw[0]);
  if (corr === undefined) return undefined;
  if (raw[1] === 0) return { corr, ok: true, value: raw[2], code: undefined, message: undefined, appCode: undefined };
  if (raw[1] === 1) return { corr, ok: false, value: undefined, code: raw[2], message: raw[3], appCode: raw[4] };
  return undefined;
}
