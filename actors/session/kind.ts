/**
 * The `session` actor kind. A socket node must host it (NodeOptions.kinds) before it starts its
 * socket server: `startNode({ roles: ['socket'], kinds: [sessionKind()], ... })`.
 */
import { defineActor } from '../../runtime/mod.js';
import type { ActorKind } from '../../runtime/mod.js';
import { sessionMachine, type SessionMachine } from './machine.js';

export const SESSION_KIND = 'session';

/**
 * Hibernation of idle sessions (runtime hibernateAfterMs: the XState actor stopped, its snapshot kept)
 * is built and measured but off (0). With 10 s, test/socket/memory.test.ts gave 3.9 KB of heap per idle
 * connection instead of 6.0 KB, but after the 2,000 hibernated sessions closed the node still held
 * about 10 KB per session 20 s later: some 3,700 NATS requests in flight (fence-release purges and
 * connection-count updates, one JetStream API call each, with their Connection in their closures).
 * Not diagnosed yet (issue 7); the machine itself is ready for it (its context holds the port behind a
 * function, which XState's snapshot walks do not enter).
 */
export const SESSION_HIBERNATE_AFTER_MS = 0;

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
      // Off: see SESSION_HIBERNATE_AFTER_MS.
      hibernateAfterMs: SESSION_HIBERNATE_AFTER_MS,
      mailbox: { capacity: 512, overflow: 'reject' },
      supervision: { maxRestarts: 0 },
    },
  });
}
