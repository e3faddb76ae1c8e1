/**
 * Watches that feed the socket-server actor the events its recovery needs (actors/socket-server):
 *
 * - `nats.reconnected`: the node's NATS connection dropped and came back. Pushes and fence controls
 *   published meanwhile are lost (core NATS is at most once).
 * - `storage.lost`: a member hosting the store or the push server went down (left or died). A store
 *   that died between its JetStream write and its push, or a push server holding pushes, owes
 *   pushes nobody will send.
 * - `stalled`: this process did not run for a while (SIGSTOP, a long GC pause, a frozen VM); its NATS
 *   connection may have survived while its sessions moved elsewhere.
 *
 * One timer for the stall check, one status iterator, one membership listener: nothing per connection.
 */
import { watchNatsStatus, type ActorNode, type ActorRef, type MembershipEvent } from '../../runtime/mod.js';
import type { SocketServerEvent } from '../../actors/socket-server/mod.js';

export interface RecoveryOptions {
  /** Kinds whose hosts' death means lost pushes. */
  readonly storageKinds: readonly string[];
  /** A gap of at least this many ms between two ticks of a 250 ms timer is a stall. */
  readonly stallMs: number;
}

const TICK_MS = 250;

/**
 * After a storage or push host is seen down, wait this long before sending clients to storage: each
 * node declares a silent member down on its own clock (up to a heartbeat apart), and a store node that
 * still believes the dead one holds the user's lease forwards the pull there, where it is lost (the
 * ask then waits for its whole deadline). By then every node agrees.
 */
const STORAGE_LOSS_SETTLE_MS = 1_500;

export class RecoveryWatch {
  readonly #node: ActorNode;
  readonly #server: ActorRef;
  readonly #options: RecoveryOptions;
  #stopStatus: (() => void) | undefined;
  #offMembership: (() => void) | undefined;
  #timer: NodeJS.Timeout | undefined;
  readonly #settling = new Set<NodeJS.Timeout>();
  #lastTick = 0;

  constructor(node: ActorNode, server: ActorRef, options: RecoveryOptions) {
    this.#node = node;
    this.#server = server;
    this.#options = options;
  }

  start(): void {
    const node = this.#node;
    this.#stopStatus = watchNatsStatus(
      node.nats,
      (type) => {
        if (type === 'reconnect') this.#tell({ type: 'nats.reconnected' });
      },
      (err) => node.logger.debug({ err }, 'NATS status watch ended'),
    );
    this.#offMembership = node.onMembership((e: MembershipEvent) => {
      if (e.type !== 'down' || e.member.nodeId === node.id) return;
      if (!e.member.kinds.some((k) => this.#options.storageKinds.includes(k))) return;
      const t = setTimeout(() => {
        this.#settling.delete(t);
        this.#tell({ type: 'storage.lost', node: e.member.nodeId });
      }, STORAGE_LOSS_SETTLE_MS);
      this.#settling.add(t);
    });
    this.#lastTick = Date.now();
    this.#timer = setInterval(() => {
      const now = Date.now();
      const gap = now - this.#lastTick;
      this.#lastTick = now;
      if (gap >= this.#options.stallMs) this.#tell({ type: 'stalled', ms: gap });
    }, TICK_MS);
    this.#timer.unref();
  }

  stop(): void {
    this.#stopStatus?.();
    this.#offMembership?.();
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
    for (const t of this.#settling) clearTimeout(t);
    this.#settling.clear();
  }

  #tell(event: SocketServerEvent): void {
    this.#node.tell(this.#server, event);
  }
}
