/**
 * The `session` actor kind. A socket node must host it (NodeOptions.kinds) before it starts its
 * socket server: `startNode({ roles: ['socket'], kinds: [sessionKind()], ... })`.
 */
import { defineActor } from '../../runtime/mod.js';
import type { ActorKind } from '../../runtime/mod.js';
import { sessionHibernation, sessionMachine, type SessionMachine } from './machine.js';

export const SESSION_KIND = 'session';

/**
 * A session with no frame or push for this long keeps only its XState snapshot until the next one
 * (runtime hibernateAfterMs): test/socket/memory.test.ts, 2,000 idle connections, heap per connection
 * 6.0 -> 4.0 KB. The machine has no delays or children, and its context holds the port behind a
 * function, which XState's snapshot walks do not enter.
 */
export const SESSION_HIBERNATE_AFTER_MS = 10_000;

/**
 * Explicit placement: a session lives on the node holding its socket and is spawned there with the
 * socket's port (not serializable). No restarts: a restarted session would greet the client twice;
 * the session's actions do not throw, and a session that fails anyway is stopped while the socket
 * server closes its connection. Local-only (`remoteSpawn: false`): a session holds a socket of this
 * process, so a spawn asked over NATS is refused with SpawnRefusedError.
 */
export function sessionKind(): ActorKind<SessionMachine> {
  return defineActor({
    kind: SESSION_KIND,
    machine: sessionMachine,
    options: {
      placement: 'explicit',
      remoteSpawn: false,
      passivateAfterMs: 0,
      // An idle session keeps only its snapshot (TARGETS P4).
      hibernateAfterMs: SESSION_HIBERNATE_AFTER_MS,
      // ... and of the snapshot, only the state's name: the context is the port, rebuilt on waking.
      hibernation: sessionHibernation,
      mailbox: { capacity: 512, overflow: 'reject' },
      supervision: { maxRestarts: 0 },
    },
  });
}
