/**
 * The distributor's HTTP API (PROTOCOL.md section 2) as types: what a client sends and gets back.
 */

/** Paths of the distributor API. */
export const DistributorPath = {
  health: '/healthz',
  devToken: '/v1/dev/token',
  connect: '/v1/connect',
} as const;

/** `POST /v1/connect` body. `exclude` (extension): socket node ids the client just failed to reach. */
export interface ConnectRequest {
  userId: string;
  deviceId: string;
  exclude?: string[];
}

/** `POST /v1/connect` answer. `node` (extension) is the chosen socket node's id: what `exclude` names. */
export interface ConnectAnswer {
  connectionId: string;
  node?: string;
  socket: { host: string; port: number; url: string };
  ticket: string;
  /** Ticket expiry, milliseconds since the epoch. */
  expiresAt: number;
}

/** Every HTTP error answer. */
export interface HttpErrorBody {
  error: { code: string; message: string };
}
