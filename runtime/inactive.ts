/**
 * Messages a virtual kind answers without activating the actor (ActorKindOptions.withoutActivation):
 * offered to the kind's handler just before an activation, which it may take (and answer) or pass on.
 */
import type { Logger } from 'pino';
import type { KindSpec } from './define.js';
import type { Counters } from './local-actors.js';
import type { ActorMessage } from './types.js';

/**
 * Offers `msg` for `spec`'s actor `id` to the kind's handler. True when the handler took it; `activate`
 * routes it on to the actor (at most once, whether the handler calls it or the runtime does).
 */
export function offerInactive(spec: KindSpec, id: string, msg: ActorMessage, counters: Counters, logger: Logger, activate: () => void): boolean {
  const handler = spec.withoutActivation;
  if (handler === undefined) return false;
  let routed = false;
  let taken = false;
  const once = (): void => {
    if (routed) return;
    routed = true;
    if (taken) {
      // Counted as answered when taken; the actor's delivery counts it from here.
      counters.messagesIn--;
      counters.answeredInactive--;
    }
    activate();
  };
  try {
    taken = handler(msg, { kind: spec.kind, id, activate: once }) === true;
  } catch (err) {
    logger.error({ err, kind: spec.kind, actor: id, message: msg.type }, 'withoutActivation handler threw; the message goes to the actor');
    taken = false;
  }
  // Passed on already (activate() inside the handler): routed.
  if (routed) return true;
  if (!taken) {
    // The caller activates it now; a late activate() does nothing.
    routed = true;
    return false;
  }
  counters.messagesIn++;
  counters.answeredInactive++;
  return true;
}
