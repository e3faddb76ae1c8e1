/**
 * Leaving the cluster (close(), or SIGTERM through signals.ts), in this order:
 *
 *   closing  announce `draining` (no new placements here), stop local actors (virtual: final
 *            snapshot, lease released, watchers told `passivated`; explicit: `stopped`), send what
 *            waits (forwards, last answers), publish `leave`
 *   closed   waiting messages and pending asks fail with UnavailableError, subscriptions end, the
 *            connection drains (if the node opened it) or is flushed
 *
 * The states only move forward: running -> closing -> closed; close() is idempotent.
 */
import type { NatsConnection } from '@nats-io/nats-core';
import type { Logger } from 'pino';
import type { PendingAsks } from './asks.js';
import type { Endpoint } from './endpoint.js';
import { UnavailableError } from './errors.js';
import type { LocalActors } from './local-actors.js';
import type { Membership } from './membership.js';
import type { Sender } from './sender.js';
import type { Waiting } from './waiting.js';

/** What the parts of a node read of its own state. */
export interface NodeLife {
  /** close() began: no new spawns or asks; messages of stopped virtual actors go elsewhere. */
  readonly closing: boolean;
  /** close() is past its leave: queued messages are refused, not routed again. */
  readonly closed: boolean;
  /** Self-fenced (fencing.ts): leases are not touched, virtual actors not activated here. */
  readonly fenced: boolean;
}

export interface ShutdownDeps {
  readonly id: string;
  readonly nats: NatsConnection;
  /** The node opened the connection itself (drain it), or was given it (flush only). */
  readonly ownConnection: boolean;
  readonly logger: Logger;
  readonly membership: Membership;
  readonly actors: LocalActors;
  readonly sender: Sender;
  readonly asks: PendingAsks;
  readonly waiting: Waiting;
  readonly endpoint: Endpoint;
  /** Stops timers that must not fire while closing (self-fencing). */
  stopTimers(): void;
  /** Closes the leases' request channel (stores.ts), once the actors have released their leases. */
  closeStores(): void;
}

export class Shutdown {
  private state: 'running' | 'closing' | 'closed' = 'running';
  private done: Promise<void> | undefined;

  constructor(private readonly d: ShutdownDeps) {}

  get closing(): boolean {
    return this.state !== 'running';
  }

  get closed(): boolean {
    return this.state === 'closed';
  }

  close(): Promise<void> {
    return (this.done ??= this.run());
  }

  private async run(): Promise<void> {
    const d = this.d;
    this.state = 'closing';
    d.stopTimers();
    try {
      d.membership.announce({ draining: true });
      await d.actors.stopAll();
      d.sender.flush(); // forwards and last answers go out before the leave
      await d.membership.leave();
    } finally {
      this.state = 'closed';
      d.sender.flush();
      d.membership.stop();
      d.waiting.dropAll();
      d.asks.failAll((p) => new UnavailableError(`node ${d.id} closed before ${p.target.kind}/${p.target.id} answered`));
      d.closeStores();
      d.endpoint.close();
      if (d.ownConnection) await d.nats.drain().catch(() => undefined);
      else await d.nats.flush().catch(() => undefined);
      d.logger.info('node closed');
    }
  }
}
