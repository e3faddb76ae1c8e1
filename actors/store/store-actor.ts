/**
 * The `store` actor kind: the cloud storage server of the patent, one virtual actor per user
 * (id = userId), hosted by nodes with the storage role. It answers the StoreRequest asks of
 * actors/messages.ts from the node's shared CloudStore and, when data changes, gives the push server
 * the condition information and the command information:
 *
 *   commit that wrote something  push {kind:'user', userId, exceptConnectionId}   {t:'sync', collection, rev}
 *   send                         push {kind:'connection', target device}          {t:'command', commandId, fromDevice, body}
 *   ack that removed a command   push {kind:'connection', the sender}             {t:'delivered', commandId}
 *
 * The ack also keeps a delivered notice for the sender device (commands.ts): `pending` lists them, and
 * the session clears them (`clearDelivered`) once sent, so a sender between connections still hears it.
 *
 * Pushes go to `{kind: 'push', id: userKey(userId)}`: one push actor per user keeps that user's
 * pushes in order (and in the order of the commits that caused them).
 *
 * Concurrency: the machine never waits. Each request starts its JetStream work and answers when it
 * is done, so a slow commit does not hold up a pull. Commits of one user run one after another, in
 * arrival order, so changes to a key from one sender are applied in the order sent (and the
 * `sync` revs of one user grow). Pulls run alongside; the CloudStore runs a user's index writes
 * (commits, sends, acks, pending) one at a time. At most `maxInFlight` requests per user are at work;
 * more are answered rate_limited.
 *
 * Fencing: this actor is one activation among possibly two while a node that stalled past its lease
 * comes back. Every write it makes becomes visible only through a compare-and-set index write, so the
 * stale one's writes fail (StaleWriteError, code internal) and none of them is seen (README.md). Its
 * queued commits do not start once its activation ended (the signal) or their asker gave up (ask
 * deadline), and a refused index write stops the activation: it never writes from a fresh read.
 */
import { setup } from 'xstate';
import type { Logger } from 'pino';
import { actorContext, askExpired, defineActor, reply, replyError } from '../../runtime/mod.js';
import type { ActorInput, ActorKind, ActorMessage, ActorNode, InactiveActor } from '../../runtime/mod.js';
import { IdentityCache } from '../../protocol/cluster/mod.js';
import type { PushCondition } from '../../protocol/cluster/mod.js';
import type { AckResult, CommitResult, DevicesResult, PendingRequest, PendingResult, PushRequest, StoreRequest } from '../messages.js';
import { syncFrame } from '../../protocol/mod.js';
import { PUSH_KIND } from '../push/mod.js';
import type { CloudStore } from './cloud-store.js';
import { BadRequestError, RateLimitedError, StaleWriteError, StoreError, StoreErrorCodes, StoreUnavailableError, type StoreErrorCode } from './errors.js';

export const STORE_KIND = 'store';

export interface StoreKindOptions {
  /** Kind name of the push actors (default `push`). */
  pushKind?: string;
  /** Requests of one user at work at once (default 64). */
  maxInFlight?: number;
  /** Told about every answered request (metrics). */
  observer?: StoreObserver;
}

/** How a storage request ended: `ok`, the public error code it was answered with, or `expired` (its asker gave up before it ran; not run). */
export type StoreOutcome = 'ok' | 'expired' | StoreErrorCode;

/**
 * What the store actors report, once per answered request: which request, how long it took from
 * arrival to answer (queueing behind the user's earlier commits included), its outcome, and for a
 * commit the changes refused as conflicts. Called on the hot path: keep it cheap, never throw.
 */
export interface StoreObserver {
  served(request: StoreRequest['type'], seconds: number, outcome: StoreOutcome, conflicts: number): void;
}

/**
 * Requests that waited behind a user's earlier commits past their asker's deadline and were not run:
 * logged at most every 5 s with a count (a stalled node or an overloaded store makes many at once).
 */
class ExpiredLog {
  #count = 0;
  #loggedAt = 0;

  note(logger: Logger, request: StoreRequest['type']): void {
    this.#count++;
    const now = Date.now();
    if (now - this.#loggedAt < 5_000) return;
    logger.warn({ request, requests: this.#count }, "storage request not run: it waited past its asker's deadline behind the user's earlier commits (the node stalled, or the store is overloaded); `requests` counts them since the last such line");
    this.#loggedAt = now;
    this.#count = 0;
  }
}

/** The work of one user's actor: a chain for commits, a count of requests at work. */
class UserWork {
  inFlight = 0;
  #commits: Promise<void> = Promise.resolve();

  /** Runs `task` after every commit queued before it. `task` never rejects. */
  afterCommits(task: () => Promise<void>): void {
    this.#commits = this.#commits.then(task);
  }
}

interface StoreActorContext {
  readonly userId: string;
  readonly work: UserWork;
}

/** Answers `event` with the error; returns the code it was answered with. */
function fail(event: StoreRequest, err: unknown, logger: Logger): StoreErrorCode {
  if (err instanceof StoreError) {
    if (err.code === StoreErrorCodes.internal) logger.warn({ err, request: event.type }, 'storage request failed');
    replyError(event, err);
    return err.code;
  }
  logger.error({ err, request: event.type }, 'storage request failed unexpectedly');
  const unavailable = new StoreUnavailableError('the storage failed unexpectedly; retry later');
  replyError(event, unavailable);
  return unavailable.code;
}

/** Builds the store kind over `store` (shared by every store actor of the node). */
export function storeKind(store: CloudStore, options: StoreKindOptions = {}): ActorKind {
  const pushKindName = options.pushKind ?? PUSH_KIND;
  const maxInFlight = options.maxInFlight ?? 64;
  const expired = new ExpiredLog();
  const observer = options.observer;
  // Each commit tells its user's push actor (named by the user key) and names devices by connection id.
  const ids = new IdentityCache();

  const push = (node: ActorNode, logger: Logger, userId: string, condition: PushCondition, command: Record<string, unknown>): void => {
    const message: PushRequest = { type: 'push', condition, command };
    try {
      node.tell({ kind: pushKindName, id: ids.userKey(userId) }, message);
    } catch (err) {
      // The data is stored either way; a lost push only delays a device until its next pull.
      logger.warn({ err }, 'could not hand a push to the push server');
    }
  };

  /**
   * Tells each device that just became known the revisions of the collections cached when it did: a
   * commit between its `welcome` and its registration did not list it (devices.ts).
   */
  const syncNewDevices = (node: ActorNode, logger: Logger, userId: string): void => {
    for (const d of store.takeNewDevices(userId)) {
      const target: PushCondition = { kind: 'connection', connectionId: ids.connectionId(userId, d.deviceId), userId };
      for (const { collection, rev } of d.revs) push(node, logger, userId, target, { t: 'sync', collection, rev });
    }
  };

  /** Serves `event`; resolves with the number of conflicts (commits) or 0. */
  const perform = async (event: StoreRequest, node: ActorNode, logger: Logger): Promise<number> => {
    try {
      return await performRequest(event, node, logger);
    } finally {
      if (event.type === 'commit' || event.type === 'pull' || event.type === 'pending' || event.type === 'send') syncNewDevices(node, logger, event.userId);
    }
  };

  const performRequest = async (event: StoreRequest, node: ActorNode, logger: Logger): Promise<number> => {
    switch (event.type) {
      case 'commit': {
        const r = await store.commit(event);
        if (r.conflicts.length < event.changes.length) {
          const except = typeof event.connectionId === 'string' ? event.connectionId : undefined;
          // One message per known device of the user (protocol/cluster/push.ts): the list is the commit's own.
          const deviceIds = [...r.devices];
          const condition: PushCondition =
            except === undefined ? { kind: 'devices', userId: event.userId, deviceIds } : { kind: 'devices', userId: event.userId, deviceIds, exceptConnectionId: except };
          // A small commit's records ride in its sync: a device that is up to date applies them without a pull.
          push(node, logger, event.userId, condition, { ...syncFrame(event.collection, r.rev, r.written) });
        }
        const answer: CommitResult = r.written === undefined ? { rev: r.rev, conflicts: r.conflicts } : { rev: r.rev, conflicts: r.conflicts, from: r.written.from };
        reply(event, answer);
        return r.conflicts.length;
      }
      case 'pull':
        reply(event, await store.pull(event));
        return 0;
      case 'send': {
        const r = await store.send(event);
        const target = ids.connectionId(event.userId, event.toDevice);
        push(node, logger, event.userId, { kind: 'connection', connectionId: target, userId: event.userId }, { t: 'command', commandId: r.commandId, fromDevice: event.fromDevice, body: event.body });
        reply(event, r);
        return 0;
      }
      case 'ack': {
        const r = await store.ack(event);
        if (r.acked && r.fromConnectionId !== undefined) {
          push(node, logger, event.userId, { kind: 'connection', connectionId: r.fromConnectionId, userId: event.userId }, { t: 'delivered', commandId: event.commandId });
        }
        const result: AckResult = { acked: r.acked };
        reply(event, result);
        return 0;
      }
      case 'pending':
        reply(event, await store.pending(event));
        return 0;
      case 'clearDelivered':
        reply(event, await store.clearDelivered(event));
        return 0;
      case 'devices': {
        const result: DevicesResult = { deviceIds: await store.devices(event.userId) };
        reply(event, result);
        return 0;
      }
    }
  };

  const serve = (context: StoreActorContext, event: StoreRequest, self: object): void => {
    const ctx = actorContext(self);
    const { node, logger, ref } = ctx;
    // The lease is lost (another node may serve this user now): start no new work. A write from the
    // state this activation cached would fail its compare-and-set anyway; but after a refused write
    // the cache is dropped, so no work may start here from a fresh read (see `task` below).
    if (ctx.aborted) {
      replyError(event, new StaleWriteError("this storage node no longer holds this user's store; retry the request"));
      return;
    }
    // The actor of user X serves user X only, whatever a request says.
    if (event.userId !== context.userId) {
      replyError(event, new BadRequestError('the request names another user than the store actor it was sent to'));
      return;
    }
    const { work } = context;
    if (work.inFlight >= maxInFlight) {
      replyError(event, new RateLimitedError(`more than ${maxInFlight} storage requests of this user are at work; retry shortly`));
      observer?.served(event.type, 0, StoreErrorCodes.rateLimited, 0);
      return;
    }
    work.inFlight++;
    const t0 = observer === undefined ? 0 : performance.now();
    const task = async (): Promise<void> => {
      let outcome: StoreOutcome = 'ok';
      let conflicts = 0;
      try {
        // A commit waits here behind the user's earlier ones. Meanwhile this activation may have ended
        // (the node stalled past its lease and fenced itself; another node serves the user now), or
        // the asker given up and sent it again: either way it must not run. A stale activation that
        // ran it would read the index afresh after its first refused write and then write for real.
        if (ctx.aborted) throw new StaleWriteError("this storage node no longer holds this user's store; retry the request");
        if (askExpired(event)) {
          outcome = 'expired';
          expired.note(logger, event.type);
          return;
        }
        conflicts = await perform(event, node, logger);
      } catch (err) {
        outcome = fail(event, err, logger);
        // An index write refused by its compare-and-set: another activation wrote this user's index
        // (this node stalled past its lease, or its view of the cluster was wrong). This one stops,
        // so that its queued work is refused and the user's next request finds the lease holder;
        // after a refused write its cache is dropped, and it must not write from a fresh read.
        if (err instanceof StaleWriteError && !ctx.aborted) void node.stop(ref).catch(() => undefined);
      } finally {
        work.inFlight--;
      }
      observer?.served(event.type, (performance.now() - t0) / 1000, outcome, conflicts);
    };
    if (event.type === 'commit') work.afterCommits(task);
    else void task();
  };

  /**
   * A session's `pending` look-up at connect, for a user whose store actor is not active on this node:
   * answered from the stored indexes when nothing waits for the device (the usual case), else passed
   * on to the actor. Without it a reconnect storm activates the store actor of every returning user:
   * a lease write, an XState actor, and a passivation 60 s later (docs/performance.md, P7). Anything
   * unexpected (another user's id, an expired ask, a failed read) goes to the actor, which answers it.
   */
  const withoutActivation = (message: ActorMessage, actor: InactiveActor): boolean => {
    if (message.type !== 'pending') return false;
    const event = message as PendingRequest;
    if (event.userId !== actor.id || askExpired(event)) return false;
    const t0 = observer === undefined ? 0 : performance.now();
    store.nothingPending(event).then(
      (nothing) => {
        if (!nothing) return actor.activate();
        const result: PendingResult = { commands: [] };
        reply(event, result);
        observer?.served('pending', (performance.now() - t0) / 1000, 'ok', 0);
      },
      () => actor.activate(),
    );
    return true;
  };

  const machine = setup({
    types: {
      context: {} as StoreActorContext,
      events: {} as StoreRequest,
      input: {} as ActorInput,
    },
    actions: {
      serve: ({ context, event, self }) => serve(context, event, self),
      refuse: ({ event }) => {
        replyError(event, new BadRequestError(`unknown storage request type ${JSON.stringify((event as { type: unknown }).type)}`));
      },
    },
  }).createMachine({
    id: STORE_KIND,
    context: ({ input }) => {
      // A new activation: another node may have served this user since this node last did, so
      // what this node cached of the user may be old (see user-state.ts).
      store.forget(input.id);
      return { userId: input.id, work: new UserWork() };
    },
    on: {
      commit: { actions: 'serve' },
      pull: { actions: 'serve' },
      send: { actions: 'serve' },
      ack: { actions: 'serve' },
      pending: { actions: 'serve' },
      clearDelivered: { actions: 'serve' },
      devices: { actions: 'serve' },
      '*': { actions: 'refuse' },
    },
  });

  return defineActor({
    kind: STORE_KIND,
    machine,
    // Requests are answered asynchronously, so the mailbox drains at once; maxInFlight bounds the work.
    options: { placement: 'virtual', mailbox: { capacity: 1024, overflow: 'reject' }, withoutActivation },
  });
}
