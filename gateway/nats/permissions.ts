/**
 * The NATS permission matrix: which subjects each Syncmesh role may publish and subscribe to.
 * docs/security.md ("NATS accounts and permissions") is this file in prose; server-config.ts turns
 * it into nats-server `authorization` users.
 *
 * Principles:
 * - Everything not allowed is refused (an allow list per direction), and the JetStream API calls that
 *   would destroy or reshape data (stream delete, update, purge, account and server APIs) are denied
 *   explicitly on top, for every role.
 * - Streams and buckets have one owner role set each (STREAMS below): only those roles may publish to
 *   the stream's subjects or call the JetStream API for it (create, info, get, delete message, consumers).
 * - Membership: a node announces itself on `<prefix>.hb.<its role set>` (runtime/membership.ts), and
 *   each user may publish only on its own role's subject, so only the socket user can announce a
 *   socket node to the distributor.
 * - Replies: each role receives its request replies (JetStream API answers) under its own inbox
 *   prefix `_INBOX.<role set>` (connect-options.ts), so no role can read another's replies.
 *
 * What this cannot express (node ids are not part of the NATS user): every role may publish to and
 * subscribe to every node's envelope and reply subjects (`<prefix>.node.*`, `<prefix>.reply.*`): the
 * actor runtime's mesh is shared by the cluster's own processes. See docs/security.md.
 */
import { roleToken } from '../../runtime/mod.js';
import { DEFAULT_STORE_LIMITS, otherPartitioningStreams, storeLayout, storeLayouts, storeStreamConfigs } from '../../actors/store/mod.js';

/** The roles that get a NATS user of their own. */
export const NATS_ROLES = ['storage', 'push', 'socket', 'gateway'] as const;
export type NatsRole = (typeof NATS_ROLES)[number];

/** Allow and deny lists of one direction. */
export interface SubjectRules {
  readonly allow: readonly string[];
  readonly deny: readonly string[];
}

/** A user's permissions, in nats-server's terms. */
export interface Permissions {
  readonly publish: SubjectRules;
  readonly subscribe: SubjectRules;
}

/** A stream (or KV bucket's stream) and who owns it. */
export interface OwnedStream {
  readonly stream: string;
  /** Subjects the stream captures: its owners publish there. */
  readonly subjects: readonly string[];
  readonly owners: readonly NatsRole[];
  /** A KV bucket whose owners remove single entries by sequence (runtime KeyRemoval: released leases). */
  readonly removedBySequence?: boolean;
}

/** Every stream and bucket of a cluster under `prefix` whose storage has `partitions` partitions, with its owners. */
export function ownedStreams(prefix: string, partitions = 1): OwnedStream[] {
  const store: OwnedStream[] = storeStreamConfigs(storeLayouts(prefix, partitions), { replicas: 1, limits: DEFAULT_STORE_LIMITS, commandTtlMs: undefined }).map((c) => ({
    stream: c.name,
    subjects: c.subjects ?? [],
    owners: ['storage'],
  }));
  const bucket = (name: string, owners: readonly NatsRole[]): OwnedStream => ({ stream: `KV_${prefix}_${name}`, subjects: [`$KV.${prefix}_${name}.>`], owners });
  return [
    ...store,
    // Runtime: leases of virtual actors and persisted snapshots, for the roles hosting such kinds.
    // Leases are released by deleting the lease's own message (by its revision).
    { ...bucket('leases', ['storage', 'push']), removedBySequence: true },
    bucket('snapshots', ['storage', 'push']),
    // Cluster-wide settings: the first node of any role writes them, every node reads them.
    bucket('cluster', NATS_ROLES),
  ];
}

/** JetStream API subjects an owner of `stream` uses. */
function streamApi(s: OwnedStream): string[] {
  const n = s.stream;
  return [
    `$JS.API.STREAM.INFO.${n}`,
    `$JS.API.STREAM.CREATE.${n}`,
    `$JS.API.STREAM.MSG.GET.${n}`,
    // KV buckets delete keys by publishing a marker, except those whose entries are removed by sequence.
    ...(n.startsWith('KV_') && !s.removedBySequence ? [] : [`$JS.API.STREAM.MSG.DELETE.${n}`]),
    `$JS.API.DIRECT.GET.${n}`,
    `$JS.API.DIRECT.GET.${n}.>`,
    `$JS.API.CONSUMER.CREATE.${n}`,
    `$JS.API.CONSUMER.CREATE.${n}.>`,
    `$JS.API.CONSUMER.DURABLE.CREATE.${n}.*`,
    `$JS.API.CONSUMER.INFO.${n}.*`,
    `$JS.API.CONSUMER.DELETE.${n}.*`,
    `$JS.API.CONSUMER.MSG.NEXT.${n}.*`,
    `$JS.ACK.${n}.>`,
  ];
}

/** Denied to everyone, whatever an allow list says. */
function alwaysDenied(): string[] {
  return ['$JS.API.STREAM.DELETE.>', '$JS.API.STREAM.UPDATE.>', '$JS.API.STREAM.PURGE.>', '$JS.API.STREAM.RESTORE.>', '$JS.API.ACCOUNT.>', '$JS.API.META.>', '$JS.API.SERVER.>', '$SYS.>'];
}

function unique(xs: Iterable<string>): string[] {
  return [...new Set(xs)];
}

/**
 * The permissions of a NATS user for a process with `roles` (usually one role; a process with
 * several roles gets the union) in a cluster whose storage has `partitions` partitions (its
 * `--store-partitions`). Throws for an unknown role.
 */
export function permissionsFor(roles: readonly NatsRole[], prefix = 'sm', partitions = 1): Permissions {
  if (roles.length === 0) throw new TypeError('permissionsFor needs at least one role');
  for (const r of roles) if (!(NATS_ROLES as readonly string[]).includes(r)) throw new TypeError(`unknown role ${JSON.stringify(r)}; roles are ${NATS_ROLES.join(', ')}`);
  const has = (r: NatsRole): boolean => roles.includes(r);
  const token = roleToken(roles);
  const pub: string[] = [`${prefix}.node.*`, `${prefix}.reply.*`, `${prefix}.hb.${token}`, '$JS.API.INFO'];
  const sub: string[] = [`${prefix}.node.*`, `${prefix}.reply.*`, `${prefix}.hb.*`, `_INBOX.${token}.>`];
  const layouts = storeLayouts(prefix, partitions);
  for (const s of ownedStreams(prefix, partitions)) {
    if (!s.owners.some(has)) continue;
    pub.push(...s.subjects, ...streamApi(s));
  }
  // The storage looks for streams of its first layout to say their data is not read any more, and for
  // index streams of another partition count to refuse starting beside them.
  if (has('storage')) pub.push(...[...storeLayout(prefix).legacyStreams, ...otherPartitioningStreams(prefix, partitions)].map((n) => `$JS.API.STREAM.INFO.${n}`));
  if (has('push') || has('socket')) pub.push(`${prefix}.push.>`); // pushes; socket nodes publish fence controls there
  if (has('socket')) {
    sub.push(`${prefix}.push.>`);
    // The connection quota's owners (gateway/socket/quota.ts): admissions, leaves and refreshes between socket nodes.
    pub.push(`${prefix}.quota.>`);
    sub.push(`${prefix}.quota.>`);
    // The storage epoch in `welcome` (gateway/socket/store-epoch.ts): the data streams' creation times, no contents.
    for (const { dataStream } of layouts) {
      pub.push(`$JS.API.STREAM.INFO.${dataStream}`);
      sub.push(`$JS.EVENT.ADVISORY.STREAM.CREATED.${dataStream}`);
    }
  }
  // Explicit, though no allow list grants them: a role without storage never sees records or commands.
  const subDeny = has('storage') ? [] : [...storeStreamConfigs(layouts, { replicas: 1, limits: DEFAULT_STORE_LIMITS, commandTtlMs: undefined }).flatMap((c) => c.subjects ?? []), '_INBOX.storage.>'];
  return {
    publish: { allow: unique(pub), deny: alwaysDenied() },
    subscribe: { allow: unique(sub), deny: subDeny },
  };
}
