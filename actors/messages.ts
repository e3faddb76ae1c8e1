/**
 * Messages between the roles of the sync service (session -> store -> push -> socket node).
 * These are runtime actor messages (MessagePack over NATS), not the public WebSocket frames.
 */
import type { ChangeFrame, RecordFrame } from '../protocol/mod.js';
import type { PushCondition } from '../protocol/cluster/mod.js';

/** One change in a commit, as the client sent it (validated): the wire's ChangeFrame. */
export type Change = ChangeFrame;

/** A key's latest state: the wire's RecordFrame. */
export type Record_ = RecordFrame;

/**
 * ask(store:userId) messages and their answers. Requests are type aliases, not interfaces, so they
 * are assignable to the runtime's ActorMessage (an index-signature type) as they are.
 */
export type CommitRequest = {
  type: 'commit';
  userId: string;
  deviceId: string;
  connectionId: string;
  collection: string;
  changes: Change[];
  /**
   * Optional client-chosen id of this commit (a string of 1-64 characters). A commit resent with the
   * txid of one of the collection's recent commits (StoreLimits.txidWindow) answers that commit's
   * result instead of applying again.
   */
  txid?: string;
};
export interface CommitResult {
  rev: number;
  conflicts: Record_[];
  /** The collection's rev just before this commit, when it wrote something (protocol: `committed` `from`). */
  from?: number;
}

export type PullRequest = {
  type: 'pull';
  userId: string;
  collection: string;
  since: number;
  limit?: number;
  /**
   * The pulling device: a device the store does not know yet is registered first (quietly, within the
   * devices quota), so every commit after this pull pushes to it.
   */
  deviceId?: string;
};
export interface PullResult {
  rev: number;
  changes: Record_[];
  more: boolean;
}

export type SendRequest = {
  type: 'send';
  userId: string;
  fromDevice: string;
  fromConnectionId: string;
  toDevice: string;
  body: unknown;
};
export interface SendResult {
  commandId: string;
}

export type AckRequest = {
  type: 'ack';
  userId: string;
  deviceId: string;
  commandId: string;
};

/** The answer to an ack: `acked` is false for an unknown, already acknowledged or foreign command id. */
export interface AckResult {
  acked: boolean;
}

export type PendingRequest = {
  type: 'pending';
  userId: string;
  deviceId: string;
};
export interface PendingCommand {
  commandId: string;
  fromDevice: string;
  body: unknown;
}
export interface PendingResult {
  commands: PendingCommand[];
  /**
   * Commands this device sent that their targets acked, not yet sent to this device as `delivered`
   * (absent from stores that keep none). Clear them with ClearDeliveredRequest once sent.
   */
  delivered?: string[];
  /** The position of the last notice in `delivered`: what ClearDeliveredRequest.through takes. */
  deliveredThrough?: number;
}

/** Removes this device's delivered notices up to `through` (PendingResult.deliveredThrough), once sent. */
export type ClearDeliveredRequest = {
  type: 'clearDelivered';
  userId: string;
  deviceId: string;
  through: number;
};
export interface ClearDeliveredResult {
  cleared: boolean;
}

/** The devices the store knows of a user (the push server's look-up for `user` and `users` conditions). */
export type DevicesRequest = {
  type: 'devices';
  userId: string;
};
export interface DevicesResult {
  deviceIds: string[];
}

export type StoreRequest = CommitRequest | PullRequest | SendRequest | AckRequest | PendingRequest | ClearDeliveredRequest | DevicesRequest;

/** tell(push:<id>) message: the condition and the command (a server frame such as `sync`). */
export type PushRequest = {
  type: 'push';
  condition: PushCondition;
  command: Record<string, unknown>;
};
