/**
 * The messages between the service's roles (session -> store -> push -> socket node), for the gateway
 * that hosts sessions. Each role's actor kind is exported by its own folder's mod.ts.
 */
export type {
  Change,
  Record_,
  CommitRequest,
  CommitResult,
  PullRequest,
  PullResult,
  SendRequest,
  SendResult,
  AckRequest,
  AckResult,
  PendingRequest,
  PendingCommand,
  PendingResult,
  ClearDeliveredRequest,
  ClearDeliveredResult,
  DevicesRequest,
  DevicesResult,
  StoreRequest,
  PushRequest,
} from './messages.js';
