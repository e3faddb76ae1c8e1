/**
 * WebSocket close codes of the Syncmesh socket server, written down once.
 *
 * Ranges (the client decides what to do from the range alone, so new codes stay compatible):
 *
 *   1000-2999  standard WebSocket codes (RFC 6455). The server itself sends none of them on purpose;
 *              a client seeing 1006 (abnormal: the TCP connection dropped, a node died, or the server
 *              cut a connection that stopped reading) treats it like the 4000 range.
 *   4000-4099  RECONNECT: this connection is over, the client is fine. Reconnect through the
 *              distributor (POST /v1/connect: it may pick another socket server), with the delay the
 *              code names.
 *   4100-4199  TERMINAL: do not reconnect automatically. Reconnecting would repeat the problem (or,
 *              for `replaced`, kick out the connection that replaced this one, back and forth).
 *              Surface it to the user or the application.
 *
 *   code  name           range      meaning and what the client does
 *   4000  draining       reconnect  The node is going away. The server sent {t:"drain", retryAfterMs}
 *                                   first: reconnect after retryAfterMs.
 *   4001  slow_consumer  reconnect  The client did not read fast enough and the server's buffer for it
 *                                   passed its limit. Reconnect with backoff and pull from the cursors.
 *   4002  server_error   reconnect  The server could not keep the session (for example the session
 *                                   fence in NATS was unreachable). Reconnect with backoff.
 *   4003  node_closed    reconnect  The node stopped without draining (shutdown). Reconnect with backoff.
 *   4100  replaced       terminal   A newer connection with the same connection id (same user and
 *                                   device) opened, here or on another node. Only one lives.
 *   4101  policy         terminal   The client kept breaking the rate limit after `rate_limited` errors.
 *                                   Fix the client; a person may retry later.
 *
 * A ticket refused at the upgrade never opens a WebSocket: that is an HTTP 401 (gateway/socket), not a
 * close code. The same goes for a node that is draining (HTTP 503).
 */

/** The close codes the socket server sends. */
export const CloseCode = {
  draining: 4000,
  slowConsumer: 4001,
  serverError: 4002,
  nodeClosed: 4003,
  replaced: 4100,
  policy: 4101,
} as const;

export type CloseCode = (typeof CloseCode)[keyof typeof CloseCode];

/** Short reason texts sent with each code (WebSocket limits them to 123 bytes). */
export const closeReason: Readonly<Record<CloseCode, string>> = {
  [CloseCode.draining]: 'draining: reconnect through the distributor after retryAfterMs',
  [CloseCode.slowConsumer]: 'slow consumer: reconnect with backoff',
  [CloseCode.serverError]: 'server error: reconnect with backoff',
  [CloseCode.nodeClosed]: 'node closed: reconnect with backoff',
  [CloseCode.replaced]: 'replaced by a newer connection of this device: do not reconnect',
  [CloseCode.policy]: 'rate limit abuse: do not reconnect automatically',
};

/** True when a client should reconnect through the distributor after this close code. */
export function isReconnectCode(code: number): boolean {
  return (code >= 4000 && code <= 4099) || code === 1006 || code === 1001 || code === 1011 || code === 1012;
}

/** True when a client must not reconnect automatically after this close code. */
export function isTerminalCode(code: number): boolean {
  return code >= 4100 && code <= 4199;
}
