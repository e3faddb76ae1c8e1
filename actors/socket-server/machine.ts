/**
 * The socket server as an actor: one per socket node, placed explicitly on it. Its machine owns the
 * server's lifecycle; the listener (gateway/socket) does what each state asks through SocketServerPort.
 *
 *   starting --listening--> listening --drain--> draining --all connections gone--> stopped (final)
 *       |                       |                    |
 *       +-------- close / failed to listen ----------+------------------------------> stopped
 *
 * - starting: binds the port and announces the server in membership (the distributor then sends
 *   clients here).
 * - listening: every WebSocket that opens becomes a `session` actor, spawned and watched by this
 *   actor (its parent: a session that fails has its connection closed). Recovery: after a NATS
 *   reconnect or a stall every session's fence claim is checked again and every client is told to
 *   `resync`; after the loss of a node hosting the store or the push server, every client resyncs.
 * - draining: announced in membership (no new clients), clients told `drain` at spread-out moments,
 *   in-flight answers still delivered; when the last connection closed, stopped.
 * - stopped: final. The runtime stops the actor and tells its watchers (`actor.terminated`,
 *   reason `stopped`), on any node. Leaving the machine any other way (node.stop, node.close) shuts
 *   the listener down too: the root `lifetime` invoke does it when the actor stops.
 *
 * `drain` and `close` may be told from any node: `tell(socketServerRef(nodeId), {type:'drain'})`.
 */
import { fromCallback, fromPromise, setup } from 'xstate';
import { actorContext, type ActorInput } from '../../runtime/mod.js';
import type { SocketServerEvent, SocketServerPhase, SocketServerPort } from './port.js';

export interface SocketServerContext {
  readonly port: SocketServerPort;
}

function portOf(input: ActorInput<SocketServerPort>): SocketServerPort {
  const p = input.args as Partial<SocketServerPort> | undefined;
  if (p === undefined || typeof p.listen !== 'function' || typeof p.enter !== 'function') {
    throw new TypeError('a socket-server actor is spawned by startSocketServer() on its own node (its listener is its spawn argument); tell it `drain` or `close` from elsewhere');
  }
  return p as SocketServerPort;
}

function spreadOf(event: SocketServerEvent): number | undefined {
  if (event.type !== 'drain') return undefined;
  const s = event.spreadMs;
  return typeof s === 'number' && Number.isFinite(s) && s >= 0 ? s : undefined;
}

const enter =
  (phase: SocketServerPhase) =>
  ({ context }: { context: SocketServerContext }): void =>
    context.port.enter(phase);

export const socketServerMachine = setup({
  types: {
    context: {} as SocketServerContext,
    events: {} as SocketServerEvent,
    input: {} as ActorInput<SocketServerPort>,
  },
  actors: {
    /** Lives as long as the actor: its cleanup closes the listener however the actor ends. */
    lifetime: fromCallback<SocketServerEvent, SocketServerPort>(({ input }) => () => input.shutdown()),
    listen: fromPromise<void, SocketServerPort>(({ input }) => input.listen()),
    drain: fromPromise<void, { port: SocketServerPort; spreadMs: number | undefined }>(({ input }) => input.port.drain(input.spreadMs)),
  },
  actions: {
    openSession: ({ context, event, self }) => {
      if (event.type === 'session.open') context.port.openSession(event.connection, actorContext(self).ref);
    },
    refuseSession: ({ context, event }) => {
      if (event.type === 'session.open') context.port.refuseSession(event.connection);
    },
    sessionEnded: ({ context, event }) => {
      if (event.type === 'actor.terminated') context.port.sessionEnded(event.ref, event.reason);
    },
    recover: ({ context, event }) => {
      const why = event.type === 'stalled' ? `process stalled for ${event.ms} ms` : 'NATS reconnected';
      context.port.revalidate(why);
      context.port.resync(why);
    },
    resyncStorage: ({ context, event }) => {
      if (event.type === 'storage.lost') context.port.resync(`node ${event.node} hosting the store or push server went down`);
    },
    startFailed: ({ context, event }) => {
      context.port.logger.error({ err: (event as { error?: unknown }).error }, 'socket server could not start');
    },
  },
}).createMachine({
  id: 'socket-server',
  context: ({ input }) => ({ port: portOf(input) }),
  invoke: { src: 'lifetime', input: ({ context }) => context.port },
  initial: 'starting',
  on: {
    'actor.terminated': { actions: 'sessionEnded' },
    close: '.stopped',
  },
  states: {
    starting: {
      entry: enter('starting'),
      invoke: {
        src: 'listen',
        input: ({ context }) => context.port,
        onDone: 'listening',
        onError: { target: 'stopped', actions: 'startFailed' },
      },
      on: { 'session.open': { actions: 'refuseSession' } },
    },
    listening: {
      entry: enter('listening'),
      on: {
        'session.open': { actions: 'openSession' },
        drain: 'draining',
        'nats.reconnected': { actions: 'recover' },
        stalled: { actions: 'recover' },
        'storage.lost': { actions: 'resyncStorage' },
      },
    },
    draining: {
      entry: enter('draining'),
      invoke: {
        src: 'drain',
        input: ({ context, event }) => ({ port: context.port, spreadMs: spreadOf(event) }),
        onDone: 'stopped',
        onError: 'stopped',
      },
      on: {
        'session.open': { actions: 'refuseSession' },
        // Sessions still draining keep their fence honest; no resync: they are leaving anyway.
        'nats.reconnected': { actions: ({ context }) => context.port.revalidate('NATS reconnected') },
        stalled: { actions: ({ context }) => context.port.revalidate('process stalled') },
      },
    },
    stopped: {
      type: 'final',
      entry: [enter('stopped'), ({ context }) => context.port.shutdown()],
    },
  },
});

export type SocketServerMachine = typeof socketServerMachine;
