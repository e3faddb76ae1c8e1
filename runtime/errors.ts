/**
 * Errors of the actor runtime. Every class extends Error, sets `name` and accepts `{ cause }`.
 *
 * Wire codes (the error part of a reply envelope) are written down once, in {@link WireCodes}, and
 * turned into classes at one boundary, {@link errorFromWire}:
 *
 *   timeout        the ask's deadline passed (never sent on the wire: the asker decides it)
 *   no_such_actor  unknown kind, explicit actor not running, or no live node hosts the kind
 *   node_down      the node holding the target went down or left while the ask was in flight
 *   mailbox_full   the target's mailbox was full (overflow `reject`) or the ask was the oldest
 *                  message dropped (overflow `drop-oldest`)
 *   bad_message    the envelope or message was not of the expected shape
 *   actor_error    the actor answered with replyError(); the application's own code travels with it
 *   unavailable    the runtime could not serve the message now (leases or snapshots unreachable,
 *                  node closing); retrying later may work
 *   spawn_refused  a remote spawn of a local-only kind (`remoteSpawn: false`): spawn it on its own node
 */

/** Wire codes of errors carried in reply envelopes. */
export const WireCodes = {
  timeout: 'timeout',
  noSuchActor: 'no_such_actor',
  nodeDown: 'node_down',
  mailboxFull: 'mailbox_full',
  badMessage: 'bad_message',
  actorError: 'actor_error',
  unavailable: 'unavailable',
  spawnRefused: 'spawn_refused',
} as const;

export type WireCode = (typeof WireCodes)[keyof typeof WireCodes];

const WIRE_CODE_SET: ReadonlySet<string> = new Set(Object.values(WireCodes));

/** Base class: every runtime error has a wire `code`. */
export class ActorRuntimeError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ActorRuntimeError';
    this.code = code;
  }
}

/** The ask got no answer before its deadline. */
export class AskTimeoutError extends ActorRuntimeError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(WireCodes.timeout, message, options);
    this.name = 'AskTimeoutError';
  }
}

/** Unknown kind, explicit actor not running, or no live node hosts the kind. */
export class NoSuchActorError extends ActorRuntimeError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(WireCodes.noSuchActor, message, options);
    this.name = 'NoSuchActorError';
  }
}

/** The node holding the target went down or left while the ask was in flight. */
export class NodeDownError extends ActorRuntimeError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(WireCodes.nodeDown, message, options);
    this.name = 'NodeDownError';
  }
}

/** The target's mailbox refused the message. */
export class MailboxFullError extends ActorRuntimeError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(WireCodes.mailboxFull, message, options);
    this.name = 'MailboxFullError';
  }
}

/**
 * The actor answered with replyError(). `code` is the wire code `actor_error`; `appCode` is the
 * application's own code (from the error's `code` field, default `error`).
 */
export class RemoteActorError extends ActorRuntimeError {
  readonly appCode: string;
  constructor(appCode: string, message: string, options?: { cause?: unknown }) {
    super(WireCodes.actorError, message, options);
    this.name = 'RemoteActorError';
    this.appCode = appCode;
  }
}

/** An envelope or message that is not of the expected shape. */
export class BadMessageError extends ActorRuntimeError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(WireCodes.badMessage, message, options);
    this.name = 'BadMessageError';
  }
}

/** The runtime could not serve the message now (KV unreachable, node closing). Retry later. */
export class UnavailableError extends ActorRuntimeError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(WireCodes.unavailable, message, options);
    this.name = 'UnavailableError';
  }
}

/**
 * An activation lost its lease: another node activated the same virtual actor (this node was cut
 * off or paused past downAfterMs). The reason of the actor's `signal` when that is how it ended.
 */
export class LeaseLostError extends UnavailableError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'LeaseLostError';
  }
}

/**
 * A spawn from another node of a kind declared local-only (`remoteSpawn: false`): its actors take
 * arguments that cannot cross the wire (a socket), so only their own node may start them.
 */
export class SpawnRefusedError extends ActorRuntimeError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(WireCodes.spawnRefused, message, options);
    this.name = 'SpawnRefusedError';
  }
}

/** A wrong argument to a runtime API (bad node id, kind name, placement). Thrown synchronously. */
export class RuntimeConfigError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'RuntimeConfigError';
  }
}

/**
 * A JetStream stream or KV bucket exists with other settings than this node needs (replicas, limits).
 * `differences` lists each as `field: found X, expected Y`; the message says how to fix it.
 */
export class StreamMismatchError extends Error {
  constructor(
    message: string,
    readonly stream: string,
    readonly differences: readonly string[],
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'StreamMismatchError';
  }
}

/** A JetStream stream, KV bucket or the cluster settings could not be read or created. */
export class StreamSetupError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StreamSetupError';
  }
}

/** The one boundary where wire codes become classes. Unknown codes become BadMessageError. */
export function errorFromWire(code: unknown, message: unknown, appCode: unknown): ActorRuntimeError {
  const text = typeof message === 'string' ? message.slice(0, 2_000) : 'remote error';
  if (typeof code !== 'string' || !WIRE_CODE_SET.has(code)) {
    return new BadMessageError(`reply carried an unknown error code ${JSON.stringify(code)}: ${text}`);
  }
  switch (code as WireCode) {
    case WireCodes.timeout:
      return new AskTimeoutError(text);
    case WireCodes.noSuchActor:
      return new NoSuchActorError(text);
    case WireCodes.nodeDown:
      return new NodeDownError(text);
    case WireCodes.mailboxFull:
      return new MailboxFullError(text);
    case WireCodes.badMessage:
      return new BadMessageError(text);
    case WireCodes.unavailable:
      return new UnavailableError(text);
    case WireCodes.spawnRefused:
      return new SpawnRefusedError(text);
    case WireCodes.actorError:
      return new RemoteActorError(typeof appCode === 'string' ? appCode.slice(0, 200) : 'error', text);
  }
}

/** What replyError() sends for an application error: its `code` (if a string) and message. */
export function appErrorParts(error: unknown): { appCode: string; message: string } {
  if (error instanceof ActorRuntimeError && !(error instanceof RemoteActorError)) {
    return { appCode: error.code, message: error.message };
  }
  if (error instanceof RemoteActorError) return { appCode: error.appCode, message: error.message };
  if (error && typeof error === 'object') {
    const e = error as { code?: unknown; message?: unknown };
    return {
      appCode: typeof e.code === 'string' ? e.code : 'error',
      message: typeof e.message === 'string' ? e.message : String(error),
    };
  }
  return { appCode: 'error', message: String(error) };
}
