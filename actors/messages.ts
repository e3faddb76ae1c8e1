/**
 * Messages between the roles of the sync service (session -> store -> push -> socket node).
 * These are runtime actor messages (MessagePack over NATS), not the public WebSocket frames.
 */

/** One change in a commit, as the client sent it (validated). */
export interface Change {
  key: string;
  /** Present unless `deleted`. Any MessagePack value. */
  value?: unknown;
  deleted?: boolean;
  /** The rev the client last saw for this key; 0 = "the key must not exist". Absent = unconditional. */
  base?: number;
}

/** A key's latest state. */
export interface Record_ {
  key: string;
  rev: number;
  value?: unknown;
  deleted?: boolean;
}

/** ask(store:userId) messages and their answers. */
export interface CommitRequest {
  type: 'commit';
  userId: string;
  deviceId: string;
  connectionId: string;
  collection: string;
  changes: Change[];
}
export interface CommitResult {
  rev: number;
  conflicts: Record_[];
}

export interface PullRequest {
  type: 'pull';
  userId: string;
  collection: string;
  since: number;
  limit?: number;
}
export interface PullResult {
  rev: number;
  changes: Record_[];
  more: boolean;
}

export interface SendRequest {
  type: 'send';
  userId: string;
  fromDevice: string;
  fromConnectionId: string;
  toDevice: string;
  body: unknown;
}
export interface SendResult {
  commandId: string;
}

export interface AckRequest {
  type: 'ack';
  userId: string;
  deviceId: string;
  commandId: string;
}

export interface PendingRequest {
  type: 'pending';
  userId: string;
  deviceId: string;
}
export interface PendingCommand {
  commandId: string;
  fromDevice: string;
  body: unknown;
}
export interface PendingResult {
  commands: PendingCommand[];
}

export type StoreRequest = CommitRequest | PullRequest | SendRequest | AckRequest | PendingRequest;

/** The patent's condition information: which connections a command goes to. */
export type PushCondition =
  | { kind: 'connection'; connectionId: string }
  | { kind: 'user'; userId: string; exceptConnectionId?: string }
  | { kind: 'users'; userIds: string[] }
  | { kind: 'all' };

/** tell(push:<id>) message: the condition and the command (a server frame such as `sync`). */
export interface PushRequest {
  type: 'push';
  condition: PushCondition;
  command: Record<string, unknown>;
}

/**
 * What the push server publishes on a push subject (see actors/identity.ts), MessagePack encoded.
 * `userId` absent only for condition `all`. Receivers deliver `frame` to each matching local session
 * whose userId equals `userId` and whose connection id is not `except`.
 */
export interface PushEnvelope {
  userId?: string;
  except?: string;
  frame: Record<string, unknown>;
}
