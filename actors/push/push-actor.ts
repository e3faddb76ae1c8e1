/**
 * The `push` actor kind: the push server of the patent. It takes `push` tells (PushRequest in
 * actors/messages.ts: condition information plus command information) and publishes them with
 * publishPush() on the node's own NATS connection. A `user` or `users` condition is first resolved to
 * the users' devices by asking each user's store (`{type: 'devices'}`); the store's own pushes name
 * the devices already (`devices`), so a commit's sync costs no look-up.
 *
 * Virtual placement, hosted by nodes with the push role (NodeOptions.kinds). The store addresses it
 * as `{kind: 'push', id: userKey(userId)}`, so one user's pushes go through one actor, in order;
 * other ids work too (a shard, say). The actor keeps no state: a passivated or moved one loses nothing.
 */
import { setup } from 'xstate';
import { actorContext, defineActor } from '../../runtime/mod.js';
import type { ActorInput, ActorKind } from '../../runtime/mod.js';
import type { DevicesRequest, DevicesResult, PushRequest } from '../messages.js';
import { needsDevices, publishPush, resolveUsers } from './publish.js';
import { IdentityCache } from '../../protocol/cluster/mod.js';

export const PUSH_KIND = 'push';

export interface PushKindOptions {
  /** Subject prefix of the cluster (default `sm`); must match the socket nodes'. */
  prefix?: string;
  /** Told about every push request (metrics). */
  observer?: PushObserver;
  /** Kind name of the store actors asked for a user's devices (default `store`). */
  storeKind?: string;
  /** How long a device look-up may take before the push is dropped (default 5,000 ms). */
  lookupTimeoutMs?: number;
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
  const storeKind = options.storeKind ?? 'store';
  const lookupTimeoutMs = options.lookupTimeoutMs ?? 5_000;
  // Per actor, the pushes still waiting behind a device look-up: later pushes of the same actor wait
  // too, so one user's pushes keep their order.
  const queues = new WeakMap<object, Promise<void>>();
  // Connection ids of the users this node pushes to: every commit pushes to each device of its user.
  const ids = new IdentityCache();

  const machine = setup({
    types: { events: {} as PushRequest, input: {} as ActorInput },
    actions: {
      publish: ({ event, self }) => {
        const { node, logger } = actorContext(self);
        const dropped = (err: unknown): void => {
          observer?.dropped();
          // A tell has nobody to answer: a malformed request (a bug in the sender) is logged and dropped.
          logger.warn({ err, condition: event.condition }, 'dropped a push request');
        };
        // Publishes now, or answers the promise of a publish waiting for a device look-up.
        const step = (): Promise<void> | undefined => {
          try {
            if (!needsDevices(event.condition)) {
              // Not `observer?.published(publishPush(...))`: optional chaining would skip the publish itself.
              const messages = publishPush(node.nats, prefix, event.condition, event.command, ids);
              observer?.published(messages);
              return undefined;
            }
          } catch (err) {
            dropped(err);
            return undefined;
          }
          const devicesOf = async (userId: string): Promise<readonly string[]> => {
            const request: DevicesRequest = { type: 'devices', userId };
            return (await node.ask<DevicesResult>({ kind: storeKind, id: userId }, request, { timeoutMs: lookupTimeoutMs })).deviceIds;
          };
          return resolveUsers(event.condition, devicesOf).then((resolved) => {
            let messages = 0;
            for (const condition of resolved) messages += publishPush(node.nats, prefix, condition, event.command, ids);
            observer?.published(messages);
          });
        };
        const queue = (p: Promise<void>): void => {
          const tail: Promise<void> = p.catch(dropped).finally(() => {
            if (queues.get(self) === tail) queues.delete(self);
          });
          queues.set(self, tail);
        };
        const waiting = queues.get(self);
        if (waiting !== undefined) {
          queue(waiting.then(step));
          return;
        }
        const p = step();
        if (p !== undefined) queue(p);
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
