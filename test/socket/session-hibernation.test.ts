/**
 * The session's hibernation codec (actors/session/machine.ts): a hibernated session keeps only the
 * name of its state, and wakes with the same state and its port.
 */
import { describe, expect, it } from 'vitest';
import { createActor, type Snapshot } from 'xstate';
import pino from 'pino';
import { sessionHibernation, sessionMachine } from '../../actors/session/mod.js';
import type { SessionPort } from '../../actors/session/mod.js';
import type { ActorInput } from '../../runtime/mod.js';

function fakePort(): SessionPort {
  const logger = pino({ level: 'silent' });
  // Only what the machine touches on start: welcome goes out through send.
  return new Proxy({ logger, connectionId: 'c', userId: 'u', deviceId: 'd' } as Record<string, unknown>, {
    get: (target, key) => (key in target ? target[key as string] : () => Promise.resolve(undefined)),
  }) as unknown as SessionPort;
}

describe('session - hibernation codec', () => {
  it('session - keeps the state name only and wakes in that state with its port', () => {
    const port = fakePort();
    const input: ActorInput<SessionPort> = { kind: 'session', id: 's', node: 'n', args: port };
    const actor = createActor(sessionMachine, { input });
    actor.start();
    const persisted = actor.getPersistedSnapshot();
    actor.stop();
    const packed = sessionHibernation.pack(persisted);
    expect(packed).toBe('handshake');
    const woken = createActor(sessionMachine, { input, snapshot: sessionHibernation.unpack(packed, input) });
    woken.start();
    expect(woken.getSnapshot().value).toBe('handshake');
    expect(woken.getSnapshot().context.port()).toBe(port);
    // Entry actions do not run again on waking: nothing was sent by the woken actor.
    woken.send({ type: 'fenced', epoch: 1 });
    expect(woken.getSnapshot().value).toBe('live');
    woken.stop();
  });

  it('session - a snapshot it cannot reduce is kept and restored as it is', () => {
    const odd = { status: 'active', value: { nested: 'state' }, historyValue: {}, context: {}, children: {} } as unknown as Snapshot<unknown>;
    expect(sessionHibernation.pack(odd)).toBe(odd);
    expect(sessionHibernation.unpack(odd, { kind: 'session', id: 's', node: 'n', args: fakePort() })).toBe(odd);
  });
});
