/**
 * Messages the distributor actor answers (runtime actor messages, not the public HTTP API).
 * Requests are type aliases, not interfaces, so they are assignable to ActorMessage.
 */
import type { SocketServer } from './socket-table.js';

/** ask: which socket server serves this connection id. */
export type AllocateRequest = {
  readonly type: 'allocate';
  readonly connectionId: string;
  /** Node ids to avoid unless they are all that is live (see SocketTable.pick). */
  readonly exclude?: readonly string[];
};

/** Answer to `allocate`: a server, or `unavailable` when no socket server is live. */
export type AllocateResult =
  | { readonly ok: true; readonly server: SocketServer }
  | { readonly ok: false; readonly reason: 'unavailable' };

/** ask: how many socket servers are live. */
export type StatusRequest = {
  readonly type: 'status';
};

export interface StatusResult {
  readonly socketServers: number;
  readonly servers: readonly SocketServer[];
}
