/**
 * Secrets of a local (dev) cluster, kept in <data-dir>/secrets.json so that tokens and tickets stay valid
 * across restarts on the same data dir. Production deployments pass SYNCMESH_TICKET_SECRET and
 * SYNCMESH_JWT_SECRET instead.
 */
import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export interface ClusterSecrets {
  ticketSecret: string;
  jwtSecret: string;
  /** Dev tokens' own key: a gateway without it (out of dev mode) never accepts them. */
  devJwtSecret: string;
}

export async function loadOrCreateSecrets(dataDir: string): Promise<ClusterSecrets> {
  const file = join(dataDir, 'secrets.json');
  try {
    const s = JSON.parse(await readFile(file, 'utf8')) as Partial<ClusterSecrets>;
    if (typeof s.ticketSecret === 'string' && typeof s.jwtSecret === 'string') {
      if (typeof s.devJwtSecret === 'string') return { ticketSecret: s.ticketSecret, jwtSecret: s.jwtSecret, devJwtSecret: s.devJwtSecret };
      // A data dir from before dev tokens had their own key: add one, keep the rest.
      const upgraded = { ticketSecret: s.ticketSecret, jwtSecret: s.jwtSecret, devJwtSecret: randomBytes(32).toString('base64url') };
      await writeFile(file, JSON.stringify(upgraded, null, 2) + '\n', { mode: 0o600 });
      return upgraded;
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new Error(`cannot read ${file}: ${(err as Error).message}; fix or delete it`);
  }
  const fresh = { ticketSecret: randomBytes(32).toString('base64url'), jwtSecret: randomBytes(32).toString('base64url'), devJwtSecret: randomBytes(32).toString('base64url') };
  await writeFile(file, JSON.stringify(fresh, null, 2) + '\n', { mode: 0o600 });
  return fresh;
}
