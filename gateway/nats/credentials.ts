/**
 * NATS credentials of the roles: one nkey pair per role, kept in a directory (mode 0700) as
 * `<role>.nk` seed files (mode 0600). Created on first use and reused afterwards, so a restarted
 * local cluster keeps its users. The server side needs only the public keys (server-config.ts):
 * no secret is ever written into a nats-server config.
 */
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { nkeys } from '@nats-io/nats-core';
import type { NatsRole } from './permissions.js';

/** One role's credentials. */
export interface RoleCredentials {
  readonly role: NatsRole;
  /** The seed file a process of this role connects with (`--nats-nkey`, SYNCMESH_NATS_NKEY). */
  readonly seedFile: string;
  /** Public key (`U...`) for the server's authorization block. */
  readonly publicKey: string;
}

/** Reads `seedFile` and returns its public key. Throws with the file name when it is not an nkey seed. */
export async function publicKeyOf(seedFile: string): Promise<string> {
  const text = (await readFile(seedFile, 'utf8')).trim();
  try {
    return nkeys.fromSeed(new TextEncoder().encode(text)).getPublicKey();
  } catch (err) {
    throw new Error(`${seedFile} is not an nkey user seed (a line starting with SU): ${(err as Error).message}`, { cause: err });
  }
}

/** The public key of the nkey seed in `seedFile`, creating the file (0600) when missing. */
export async function loadOrCreateSeed(seedFile: string): Promise<string> {
  try {
    return await publicKeyOf(seedFile);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const kp = nkeys.createUser();
  await writeFile(seedFile, new TextDecoder().decode(kp.getSeed()) + '\n', { mode: 0o600, flag: 'wx' });
  return kp.getPublicKey();
}

/** The credentials of `roles` under `dir`: existing seed files are reused, missing ones created. */
export async function loadOrCreateRoleCredentials(dir: string, roles: readonly NatsRole[]): Promise<RoleCredentials[]> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await chmod(dir, 0o700);
  const out: RoleCredentials[] = [];
  for (const role of roles) {
    const seedFile = join(dir, `${role}.nk`);
    const publicKey = await loadOrCreateSeed(seedFile);
    await chmod(seedFile, 0o600);
    out.push({ role, seedFile, publicKey });
  }
  return out;
}
