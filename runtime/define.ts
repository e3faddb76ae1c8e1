/**
 * defineActor(): an actor kind is a name, an XState v5 machine and options. The machine gets
 * {@link ActorInput} as `input`.
 */
import type { AnyStateMachine } from 'xstate';
import { RuntimeConfigError } from './errors.js';
import { KIND_PATTERN } from './envelope.js';
import type { ActorKind, ActorKindOptions, ActorMessage, HibernationCodec, InactiveActor, MailboxOverflow } from './types.js';

/** Defines an actor kind. Throws RuntimeConfigError on a bad name or option. */
export function defineActor<TMachine extends AnyStateMachine>(definition: {
  kind: string;
  machine: TMachine;
  options?: ActorKindOptions;
}): ActorKind<TMachine> {
  const { kind, machine, options = {} } = definition;
  if (!KIND_PATTERN.test(kind)) {
    throw new RuntimeConfigError(`actor kind ${JSON.stringify(kind)} must be 1-64 characters of [A-Za-z0-9_-] (it is part of NATS subjects and KV keys)`);
  }
  const cap = options.mailbox?.capacity;
  if (cap !== undefined && !(Number.isInteger(cap) && cap > 0)) {
    throw new RuntimeConfigError(`mailbox capacity of kind ${kind} must be a positive integer, got ${String(cap)}`);
  }
  const hibernate = options.hibernateAfterMs;
  if (hibernate !== undefined && hibernate !== 0) {
    if (!(Number.isFinite(hibernate) && hibernate > 0)) throw new RuntimeConfigError(`hibernateAfterMs of kind ${kind} must be a positive number of milliseconds or 0, got ${String(hibernate)}`);
    if ((options.placement ?? 'virtual') === 'virtual') throw new RuntimeConfigError(`kind ${kind}: hibernateAfterMs is for explicit kinds (virtual actors passivate: passivateAfterMs)`);
    if (options.persist === true) throw new RuntimeConfigError(`kind ${kind}: hibernateAfterMs and persist do not go together (a persisted actor's snapshot lives in KV)`);
  }
  const codec = options.hibernation;
  if (codec !== undefined && (typeof codec.pack !== 'function' || typeof codec.unpack !== 'function')) {
    throw new RuntimeConfigError(`kind ${kind}: hibernation needs pack and unpack functions`);
  }
  if (options.remoteSpawn === false && (options.placement ?? 'virtual') === 'virtual') {
    throw new RuntimeConfigError(`kind ${kind}: remoteSpawn: false needs placement 'explicit' (virtual actors are started by their first message, not by spawn())`);
  }
  if (options.withoutActivation !== undefined) {
    if (typeof options.withoutActivation !== 'function') throw new RuntimeConfigError(`kind ${kind}: withoutActivation must be a function (message, actor) => boolean`);
    if ((options.placement ?? 'virtual') !== 'virtual') throw new RuntimeConfigError(`kind ${kind}: withoutActivation is for virtual kinds (an explicit actor is spawned, not activated by a message)`);
  }
  return Object.freeze({ kind, machine, options: Object.freeze({ ...options }) });
}

/** Options of a kind with every default filled in. Internal. */
export interface KindSpec {
  readonly kind: string;
  readonly machine: AnyStateMachine;
  readonly virtual: boolean;
  readonly passivateAfterMs: number;
  /** Explicit kinds: idle time before the XState actor is hibernated (0: never). */
  readonly hibernateAfterMs: number;
  /** How a hibernated actor's snapshot is kept (undefined: as it is). */
  readonly hibernation: HibernationCodec | undefined;
  readonly capacity: number;
  readonly overflow: MailboxOverflow;
  readonly persist: boolean;
  /** spawn() from another node allowed (explicit kinds). */
  readonly remoteSpawn: boolean;
  readonly maxRestarts: number;
  readonly withinMs: number;
  readonly backoffMs: number;
  readonly maxBackoffMs: number;
  /** Virtual kinds: answers some messages without an activation (ActorKindOptions.withoutActivation). */
  readonly withoutActivation: ((message: ActorMessage, actor: InactiveActor) => boolean) | undefined;
}

export function kindSpec(k: ActorKind): KindSpec {
  const o = k.options;
  return {
    kind: k.kind,
    machine: k.machine,
    virtual: (o.placement ?? 'virtual') === 'virtual',
    passivateAfterMs: o.passivateAfterMs ?? 60_000,
    hibernateAfterMs: o.hibernateAfterMs ?? 0,
    hibernation: o.hibernation,
    capacity: o.mailbox?.capacity ?? 1024,
    overflow: o.mailbox?.overflow ?? 'reject',
    persist: o.persist === true,
    remoteSpawn: o.remoteSpawn !== false,
    maxRestarts: o.supervision?.maxRestarts ?? 5,
    withinMs: o.supervision?.withinMs ?? 60_000,
    backoffMs: o.supervision?.backoffMs ?? 50,
    maxBackoffMs: o.supervision?.maxBackoffMs ?? 5_000,
    withoutActivation: o.withoutActivation,
  };
}
