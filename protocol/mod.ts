/**
 * The public wire contract of Syncmesh (PROTOCOL.md, docs/protocol.md), shared by the server and the
 * client: the MessagePack codec settings, frame types and builders, error and close codes, and the
 * distributor's HTTP shapes. Browser-safe: it imports nothing but msgpackr. Contracts between server
 * processes (connection ids, push subjects and envelopes, membership keys) are in protocol/cluster.
 */
export { encode, decode, decodeMany, isMap, ownBytes, ownString, toSafeInteger } from './codec.js';
export { ErrorCode, ERROR_CODES, isErrorCode, HTTP_ERROR_STATUS } from './error-codes.js';
export { CloseCode, closeReason, isReconnectCode, isTerminalCode } from './close-codes.js';
export {
  WIRE_LIMITS,
  CLIENT_FRAME_TYPES,
  errorFrame,
  welcomeFrame,
  fallbackFrame,
  drainFrame,
  syncFrame,
  INLINE_SYNC_MAX_BYTES,
  INLINE_SYNC_MAX_CHANGES,
  RESYNC_FRAME_BYTES,
} from './frames.js';
export { DistributorPath } from './http.js';

export type { HttpErrorCode } from './error-codes.js';
export type {
  RequestId,
  ChangeFrame,
  RecordFrame,
  CommitFrame,
  PullFrame,
  SendFrame,
  AckFrame,
  ClientFrame,
  WelcomeFrame,
  FallbackOffer,
  FallbackFrame,
  CommittedFrame,
  ChangesFrame,
  SentFrame,
  ErrorFrame,
  SyncFrame,
  ResyncFrame,
  CommandFrame,
  DeliveredFrame,
  DrainFrame,
  ServerFrame,
} from './frames.js';
export type { ConnectRequest, ConnectAnswer, HttpErrorBody } from './http.js';
