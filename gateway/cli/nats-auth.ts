#!/usr/bin/env node
/**
 * Writes the NATS credentials and server config fragments of a multi-machine cluster
 * (docs/deployment.md, "Secrets"):
 *
 *   node dist/gateway/cli/nats-auth.js --dir /etc/syncmesh/nats --route-hosts nats-1.example.internal,nats-2.example.internal,nats-3.example.internal
 *
 * - `<dir>/keys/<role>.nk`: one nkey seed per role (0600), reused when present. Copy each to the hosts
 *   of that role only.
 * - `<dir>/auth.conf`: the `authorization` block (public keys and the permission matrix), included by
 *   config/cluster/nats-N.conf. Holds no secret.
 * - `<dir>/routes.conf`: the route user (random password, reused when present) and the route URLs,
 *   included in the `cluster {}` block. Secret: the same file on the three NATS hosts only (0600).
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { authorizationBlock, loadOrCreateRoleCredentials, loadOrCreateSeed, NATS_ROLES } from '../nats/mod.js';
import { UsageError } from './errors.js';
import { optionsHelp, parseOptions, type OptionTable } from './options.js';

const OPTIONS = {
  dir: { kind: 'string', default: './nats-auth', placeholder: 'DIR', help: 'where keys/, auth.conf and routes.conf go' },
  'route-hosts': { kind: 'list', default: [], placeholder: 'HOSTS', help: "host names (or host:port) of the NATS servers' route listeners, comma-separated (required)" },
  prefix: { kind: 'string', default: 'sm', help: 'subject prefix of the cluster' },
  'store-partitions': { kind: 'int', default: 1, min: 1, max: 64, placeholder: 'N', help: "the cluster's storage partitions (its nodes' --store-partitions): the storage role may use each partition's streams" },
  admin: { kind: 'bool', default: false, help: 'also an unrestricted operator user (keys/admin.nk) for the nats CLI: backups, restores' },
  help: { kind: 'bool', default: false, flagOnly: true, help: 'print this help' },
} as const satisfies OptionTable;

async function main(): Promise<void> {
  const flags = parseOptions(OPTIONS, process.argv.slice(2), process.env);
  if (flags.help) {
    process.stdout.write(`usage: node dist/gateway/cli/nats-auth.js --route-hosts H1,H2,H3 [--dir DIR]\n${optionsHelp(OPTIONS)}\n`);
    return;
  }
  const hosts = flags['route-hosts'];
  if (hosts.length === 0) throw new UsageError('--route-hosts is required: the host names of the three NATS servers (nats-1.example.internal,...)');
  const dir = resolve(flags.dir);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const creds = await loadOrCreateRoleCredentials(join(dir, 'keys'), NATS_ROLES);
  const admin = flags.admin ? await loadOrCreateSeed(join(dir, 'keys', 'admin.nk')) : undefined;
  const header = '# Written by `node dist/gateway/cli/nats-auth.js` (gateway/nats/server-config.ts). docs/security.md, "NATS accounts and permissions".\n';
  await writeFile(join(dir, 'auth.conf'), header + authorizationBlock(creds.map((c) => ({ roles: [c.role], nkey: c.publicKey })), flags.prefix, admin, flags['store-partitions']), { mode: 0o644 });
  const routesFile = join(dir, 'routes.conf');
  let password = '';
  try {
    password = /password: "([^"]+)"/.exec(await readFile(routesFile, 'utf8'))?.[1] ?? '';
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  password ||= randomBytes(24).toString('base64url');
  const urls = hosts.map((h) => `    "nats-route://syncmesh-route:${password}@${h.includes(':') ? h : `${h}:6222`}"`).join('\n');
  await writeFile(routesFile, `${header}authorization { user: "syncmesh-route", password: "${password}", timeout: 2 }\nroutes: [\n${urls}\n]\n`, { mode: 0o600 });
  process.stdout.write(
    `wrote ${join(dir, 'auth.conf')} and ${routesFile} (secret: NATS hosts only)\n` +
      creds.map((c) => `  ${c.role.padEnd(8)} ${c.seedFile}  ${c.publicKey}`).join('\n') +
      (admin !== undefined ? `\n  admin    ${join(dir, 'keys', 'admin.nk')}  ${admin}  (operator only: keep it off the node hosts)` : '') +
      '\ncopy each seed file to the hosts of its role only (mode 0600), as SYNCMESH_NATS_NKEY\n',
  );
}

main().catch((err: unknown) => {
  if (err instanceof UsageError) {
    process.stderr.write(`nats-auth: ${err.message}\nRun with --help for the flags.\n`);
    process.exit(2);
  }
  process.stderr.write(`nats-auth: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
