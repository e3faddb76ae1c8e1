/**
 * How a Syncmesh process connects to NATS: servers, credentials (an nkey seed file, or a user and
 * password), TLS (a CA to trust, and a client certificate when the servers ask for one), and the
 * role's own inbox prefix (permissions.ts: a role reads only its own replies).
 */
import { readFile } from 'node:fs/promises';
import { nkeyAuthenticator, type ConnectionOptions } from '@nats-io/nats-core';
import { roleToken } from '../../runtime/mod.js';

/** What a process needs to reach NATS. Every field but `servers` and `roles` is optional. */
export interface NatsClientConfig {
  readonly servers: readonly string[];
  /** The roles of this process: they name its inbox prefix. */
  readonly roles: readonly string[];
  /** An nkey user seed file (mode 0600). */
  readonly nkeyFile?: string;
  readonly user?: string;
  readonly password?: string;
  /** CA certificate (PEM) to trust; set, the connection requires TLS. */
  readonly caFile?: string;
  /** Client certificate and key (PEM), when the servers verify clients. */
  readonly certFile?: string;
  readonly keyFile?: string;
  /** Connection name shown by nats-server monitoring. */
  readonly name?: string;
}

/** The inbox prefix of a process with `roles`: `_INBOX.<role token>`. */
export function inboxPrefixFor(roles: readonly string[]): string {
  return `_INBOX.${roleToken(roles)}`;
}

/** Reads the credential files and returns nats.js connection options. Throws naming a missing or bad file. */
export async function natsConnectionOptions(c: NatsClientConfig): Promise<ConnectionOptions> {
  const opts: ConnectionOptions = {
    servers: [...c.servers],
    inboxPrefix: inboxPrefixFor(c.roles),
    ...(c.name !== undefined && { name: c.name }),
  };
  if (c.nkeyFile !== undefined) {
    let seed: string;
    try {
      seed = (await readFile(c.nkeyFile, 'utf8')).trim();
    } catch (err) {
      throw new Error(`cannot read the NATS nkey seed file ${c.nkeyFile}: ${(err as Error).message}`, { cause: err });
    }
    opts.authenticator = nkeyAuthenticator(new TextEncoder().encode(seed));
  } else if (c.user !== undefined) {
    opts.user = c.user;
    if (c.password !== undefined) opts.pass = c.password;
  }
  if (c.caFile !== undefined || c.certFile !== undefined) {
    if ((c.certFile === undefined) !== (c.keyFile === undefined)) throw new Error('a NATS client certificate needs both a certificate file and a key file');
    opts.tls = {
      ...(c.caFile !== undefined && { caFile: c.caFile }),
      ...(c.certFile !== undefined && { certFile: c.certFile, keyFile: c.keyFile! }),
    };
  }
  return opts;
}
