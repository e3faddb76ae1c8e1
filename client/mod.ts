/**
 * Public entry of the Syncmesh client (browsers and Node 20): `syncmesh/client`. What is exported here
 * is the API; everything else in client/ is internal. Guide: docs/client.md. Browsers may also load the
 * bundle the gateway serves at `/syncmesh-client.js` (same exports); Node passes `ws` as WebSocket.
 * The React hooks are a separate entry (client/react/mod.ts, `syncmesh/client/react`).
 *
 *   const client = createSyncClient({
 *     distributorUrl: 'http://127.0.0.1:8080', userId: 'ann', deviceId: 'laptop',
 *     getToken: async () => token,                  // re-asked once when the distributor answers 401
 *     collections: ['bookmarks'],                   // pulled on every (re)connect
 *     cache: indexedDbCache('syncmesh-ann-laptop'), // browsers: data and unsent writes survive reloads (default: memory)
 *   });
 *   client.onCollection('bookmarks', () => render(client.entries('bookmarks')));
 *   client.on('pending', ({ count }) => badge(count)); // writes not yet acknowledged
 *   client.on('command', (cmd) => { open(cmd.body); cmd.ack(); });
 *   client.put('bookmarks', 'b1', { title: 'Syncmesh' }, { ifRev: true }); // shows at once, offline too
 *   await client.send('phone', { url: location.href });
 */
export { createSyncClient } from './client.js';
export { memoryCache } from './cache.js';
export { indexedDbCache } from './indexeddb-cache.js';
export { createBackoff, BACKOFF_DEFAULTS } from './backoff.js';
export { encodeFrame, decodeFrame, toSafeInteger } from './codec.js';
export {
  SyncError, ServerError, DistributorError, AuthError, RequestTimeoutError, ConnectionLostError, QueueFullError,
  OfflineError, ProtocolError, CacheStorageError, ListenerError, WriteRejectedError, SERVER_ERROR_CODES,
} from './errors.js';

export type { Backoff, BackoffOptions } from './backoff.js';
export type { Cache, CachedRecord, CacheEntry, QueuedWrite, QueuedChange } from './cache.js';
export type { ServerErrorCode } from './errors.js';
export type { RateLimit } from './requests.js';
export type { FetchLike, ResponseLike, WebSocketConstructor, WebSocketLike, SocketAllocation } from './transport.js';
export type {
  SyncClient, SyncClientOptions, SyncClientEvents, ConnectionStatus, StatusEvent, ChangeEvent, ConflictEvent,
  CommandEvent, DeliveredEvent, PendingEvent, ChangeInput, ConflictRecord, CommitResult, WriteOptions, ClientLogger,
} from './types.js';
