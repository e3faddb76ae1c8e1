/**
 * Public entry of the Syncmesh actor runtime. Everything public is listed here by name.
 * Sibling packages and tests that need the wire format use runtime/internal.ts.
 */
export { startNode } from './start.js';
export { defineActor } from './define.js';
export { askExpired, reply, replyError } from './reply.js';
export { actorContext } from './context.js';
export { installSignalHandlers } from './signals.js';
export { pickByRendezvous, hash53 } from './placement.js';
export { startNatsServer, startNatsCluster, natsServerBinary, freePort, NatsServerError, NATS_GOGC, TOOLS_NATS_SERVER } from './nats-launcher.js';
export { watchProcess } from './watchdog.js';
export { ensureStream, ensureBucket, bucketStream, streamDifferences, isTransientJsError } from './streams.js';
export { KeyRemoval } from './key-removal.js';
export { JetStreamRequests, ConnectionLostError, WRITE_ID_HEADER } from './jetstream-requests.js';
export { coalesceWrites } from './write-coalescing.js';
export { TimeSlices } from './time-slices.js';
export { watchNatsStatus } from './nats-status.js';
export { loadClusterSettings, defaultReplicas } from './cluster-settings.js';
export { roleToken } from './membership.js';
export {
  ActorRuntimeError,
  AskTimeoutError,
  BadMessageError,
  LeaseLostError,
  MailboxFullError,
  NodeDownError,
  NoSuchActorError,
  RemoteActorError,
  RuntimeConfigError,
  SpawnRefusedError,
  StreamMismatchError,
  StreamSetupError,
  UnavailableError,
  WireCodes,
} from './errors.js';

export type { ActorContext } from './context.js';
export type { SignalOptions } from './signals.js';
export type { WireCode } from './errors.js';
export type { TimeSlicesOptions } from './time-slices.js';
export type { PublishOptions, PubAck } from './jetstream-requests.js';
export type { NatsServer, NatsServerOptions, NatsCluster, NatsClusterOptions } from './nats-launcher.js';
export type { Watchdog } from './watchdog.js';
export type { StreamDefinition, BucketDefinition } from './streams.js';
export type { ClusterSettings, ClusterSettingsOptions } from './cluster-settings.js';
export type {
  ActorInput,
  ActorKind,
  ActorKindOptions,
  HibernationCodec,
  InactiveActor,
  ActorMessage,
  ActorNode,
  ActorRef,
  AskOptions,
  MailboxOptions,
  MailboxOverflow,
  MemberInfo,
  MembershipEvent,
  NodeOptions,
  RuntimeMetrics,
  SpawnPlacement,
  SupervisionOptions,
  TerminatedMessage,
} from './types.js';
