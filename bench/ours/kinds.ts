/**
 * The actor kinds our runtime is measured with.
 *
 * - `bench-echo` (P1, P2): on `ping` it answers the ask with the event itself. Explicit placement,
 *   so the bench puts it on the other process with spawn(kind, id, { node }).
 * - `bench-counter` (P3): counts `ping` with `assign`, like the bare XState peer's machine; `get`
 *   answers the count, which is how the bench knows every told event was processed.
 */
import { assign, setup } from 'xstate';
import { defineActor, reply } from '../../runtime/mod.js';
import type { ActorMessage } from '../../runtime/mod.js';
import type { PingEvent } from '../payload.js';

export const ECHO_KIND = 'bench-echo';
export const COUNTER_KIND = 'bench-counter';

const echoMachine = setup({ types: { events: {} as ActorMessage } }).createMachine({
  on: {
    ping: {
      actions: ({ event }) => {
        reply(event, event);
      },
    },
  },
});

export const echoKind = defineActor({ kind: ECHO_KIND, machine: echoMachine, options: { placement: 'explicit' } });

type CounterEvent = PingEvent | { readonly type: 'get' };

const counterMachine = setup({ types: { context: {} as { count: number }, events: {} as CounterEvent } }).createMachine({
  context: { count: 0 },
  on: {
    ping: { actions: assign({ count: ({ context }) => context.count + 1 }) },
    get: {
      actions: ({ context, event }) => {
        reply(event, context.count);
      },
    },
  },
});

export const counterKind = defineActor({ kind: COUNTER_KIND, machine: counterMachine, options: { placement: 'explicit' } });
