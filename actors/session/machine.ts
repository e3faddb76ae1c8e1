/**
 * The client session: one XState v5 actor per WebSocket connection, placed explicitly on the socket
 * node that holds the socket.
 *
 *   handshake --fenced--> live --drain--> draining
 *       |                   |                |
 *       +----replaced / fence.failed---------+--> closing (the socket is being closed; final)
 *
 * - handshake: `welcome` is sent at once (PROTOCOL: right after open), then the connection id is
 *   claimed in the cluster-wide fence. Requests and pushes are served already: they need only the
 *   ticket's identity, and a client may pipeline right after `welcome`.
 * - live: the fence is ours; pending device commands are delivered on entry.
 * - draining: the client got `{t:"drain"}`; in-flight requests are still answered, then the socket
 *   closes (code `draining`).
 * - closing: replaced by a newer session, or the fence failed; the socket is closing.
 *
 * The socket server stops the actor when the socket closes. Context is only the port: the session's
 * memory is the XState actor plus one pointer.
 */
import { setup } from 'xstate';
import type { Snapshot } from 'xstate';
import type { ActorInput, HibernationCodec } from '../../runtime/mod.js';
import type { SessionEvent, SessionPort } from './port.js';
import { deliverPending, handleFrame } from './requests.js';
import { drainFrame, welcomeFrame } from '../../protocol/mod.js';

export interface SessionContext {
  /**
   * The session's socket port, behind a function. XState walks the objects of a context (and copies
   * it) when it persists and restores a snapshot, which the runtime does to hibernate an idle session;
   * the port leads to the whole socket server, cycles included, and is a reference, never state.
   */
  readonly port: () => SessionPort;
}

/** The context of a session on `port` (the same at the start and when it wakes from hibernation). */
function sessionContext(port: SessionPort): SessionContext {
  return { port: () => port };
}

/**
 * What a hibernated session keeps (runtime HibernationCodec): the name of its state, nothing else. The
 * context is the port, rebuilt from the actor's input; a session has no children and no history. A
 * snapshot of another shape (none is expected) is kept as it is.
 */
export const sessionHibernation: HibernationCodec = {
  pack(snapshot) {
    const s = snapshot as { status?: unknown; value?: unknown; historyValue?: object; children?: object };
    const plain = s.status === 'active' && typeof s.value === 'string' && isEmpty(s.historyValue) && isEmpty(s.children);
    return plain ? s.value : snapshot;
  },
  unpack(packed, input) {
    if (typeof packed !== 'string') return packed as Snapshot<unknown>;
    const persisted = { status: 'active', value: packed, historyValue: {}, context: sessionContext(portOf(input as ActorInput<SessionPort>)), children: {} };
    return persisted as unknown as Snapshot<unknown>;
  },
};

function isEmpty(o: object | undefined): boolean {
  if (o === undefined) return true;
  for (const _ in o) return false;
  return true;
}

function portOf(input: ActorInput<SessionPort>): SessionPort {
  if (input.args === undefined) throw new TypeError('a session is spawned with its socket port as args (spawned by the socket server only)');
  return input.args;
}

type ActionArgs = { context: SessionContext; event: SessionEvent };

/**
 * Wraps an action so it never throws: a throwing action would put the actor in error state (and
 * without restarts, stop it) while its socket stays open. A bug here closes the connection instead
 * (`serverError`: the client reconnects) and is logged.
 */
function guarded(name: string, fn: (port: SessionPort, event: SessionEvent) => void): (args: ActionArgs) => void {
  return ({ context, event }) => {
    const port = context.port();
    try {
      fn(port, event);
    } catch (err) {
      port.logger.error({ err, connectionId: port.connectionId, action: name, event: event.type }, 'session action failed; closing the connection');
      port.close('serverError');
    }
  };
}

/** How long after a client's retryAfterMs the server still serves it before closing with `draining`. */
const DRAIN_LINGER_MS = 1_000;

export const sessionMachine = setup({
  types: {
    context: {} as SessionContext,
    events: {} as SessionEvent,
    input: {} as ActorInput<SessionPort>,
  },
  actions: {
    welcome: guarded('welcome', (port) => port.send(welcomeFrame(port.connectionId, port.nodeId, port.storeEpoch, port.fallback()))),
    claim: guarded('claim', (port) => port.claim()),
    handleFrame: guarded('handleFrame', (port, event) => {
      if (event.type === 'frame') handleFrame(port, event.frame);
    }),
    deliver: guarded('deliver', (port, event) => {
      if (event.type === 'push') port.send(event.bytes);
    }),
    deliverPending: guarded('deliverPending', (port) => deliverPending(port)),
    sendDrain: guarded('sendDrain', (port, event) => {
      if (event.type !== 'drain') return;
      port.send(drainFrame(event.retryAfterMs));
      // Linger: requests that crossed the drain frame on the wire still get answers, and a client that
      // moves on time closes first, so the node never cuts a socket with data still on its way.
      port.closeWhenFlushed(event.retryAfterMs + DRAIN_LINGER_MS);
    }),
    closeFailed: guarded('closeFailed', (port, event) => {
      if (event.type === 'fence.failed') port.logger.warn({ connectionId: port.connectionId, reason: event.reason }, 'session fence failed; closing');
      port.close('serverError');
    }),
    closeReplaced: guarded('closeReplaced', (port) => port.close('replaced')),
  },
}).createMachine({
  id: 'session',
  context: ({ input }) => sessionContext(portOf(input)),
  initial: 'handshake',
  on: {
    frame: { actions: 'handleFrame' },
    push: { actions: 'deliver' },
  },
  states: {
    handshake: {
      entry: ['welcome', 'claim'],
      on: {
        fenced: 'live',
        replaced: { target: 'closing', actions: 'closeReplaced' },
        'fence.failed': { target: 'closing', actions: 'closeFailed' },
        drain: 'draining',
      },
    },
    live: {
      entry: 'deliverPending',
      on: {
        replaced: { target: 'closing', actions: 'closeReplaced' },
        drain: 'draining',
      },
    },
    draining: {
      entry: 'sendDrain',
      on: { replaced: { target: 'closing', actions: 'closeReplaced' } },
    },
    closing: {
      // Final: the actor is done and takes no more frames or pushes while the socket closes.
      type: 'final',
    },
  },
});

export type SessionMachine = typeof sessionMachine;
