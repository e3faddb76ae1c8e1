/**
 * The `push` actor kind: the push server of the patent. It takes `push` tells (PushRequest in
 * actors/messages.ts: condition information plus command information) and publishes them with
 * publishPush() on the node's own NATS connection.
 *
 * Virtual placement, hosted by nodes with the push role (NodeOptions.kinds). The store addresses it
 * as `{kind: 'push', id: userKey(userId)}`, so one user's pushes go through one actor, in order;
 * other ids work too (a shard, say). The actor keeps no state: a passivated or moved one loses nothing.
 */
import { setup } from 'xstate';
import { actorContext, defineActor } from '../../runtime/mod.js';
import type { ActorInput, ActorKind } from '../../runtime/mod.js';
import type { PushRequest } from '../messages.js';
import { publishPush } from './publish.js';

export const PUSH_KIND = 'push';

export interface PushKindOptions {
  /** Subject prefix of the cluster (default `sm`); must match the socket nodes'. */
  prefix?: string;
  /** Told about every push request (metrics). */
  observer?: PushObserver;
}

/** What the push actors report. Called on the hot path: keep it cheap, never throw. */
export interface PushObserver {
  /** A push request was published as `messages` NATS messages. */
  published(messages: number): void;
  /** A malformed push request was dropped. */
  dropped(): void;
}

/** The push actor kind. A push node hosts it: `startNode({ roles: ['push'], kinds: [pushKind()] })`. */
export function pushKind(options: PushKindOptions = {}): ActorKind {
  const prefix = options.prefix ?? 'sm';
  const observer = options.observer;
  const machine = setup({
    types: { events: {} as PushRequest, input: {} as ActorInput },
    actions: {
      publish: ({ event, self }) => {
        const { node, logger } = actorContext(self);
        try {
          const messages = publishPush(node.nats, prefix, event.condition, event.command);
          observer?.published(messages);
        } catch (err) {
          observer?.dropped();
          // A tell has nobody to answer: a malformed request (a bug in the sender) is logged and dropped.
          logger.warn({ err, condition: event.condition }, 'dropped a malformed push request');
        }
      },
    },
  }).createMachine({
    id: PUSH_KIND,
    on: { push: { actions: 'publish' } },
  });
  return defineActor({
    kind: PUSH_KIND,
    machine,
    // Pushes are cheap and bursty (one commit, one push); a full mailbox drops the newest, which a
    // client recovers from with its next pull.
    options: { placement: 'virtual', mailbox: { capacity: 4096, overflow: 'reject' } },
  });
}
