/**
 * Test kit: one more role process (dist/gateway/cli/node.js) joined to a running local cluster (its data
 * dir gives the secrets), with its own NATS URL if wanted (through a tcp-proxy.ts, say). Stopped by
 * construction (SIGTERM, then SIGKILL).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';

const NODE_JS = resolve('dist/gateway/cli/node.js');

export interface RoleNode {
  readonly pid: number;
  readonly process: ChildProcess;
  readonly info: { node: string; roles: string[]; socket?: string; http?: string };
  /** Resolves with the exit code (null after a signal). */
  readonly exited: Promise<number | null>;
  [Symbol.asyncDispose](): Promise<void>;
}

export async function roleNode(options: { dataDir: string; nats: string; nodeId: string; roles: string[]; args?: string[] }): Promise<RoleNode> {
  const secrets = JSON.parse(await readFile(join(options.dataDir, 'secrets.json'), 'utf8')) as { ticketSecret: string; jwtSecret: string };
  // The local cluster runs with NATS security on: a one-role node connects as that role's NATS user.
  const state = JSON.parse(await readFile(join(options.dataDir, 'cluster.json'), 'utf8')) as { natsSeeds?: Record<string, string> };
  const nkeyFile = options.roles.length === 1 ? state.natsSeeds?.[options.roles[0]!] : undefined;
  const args = [NODE_JS, '--roles', options.roles.join(','), '--node-id', options.nodeId, '--nats', options.nats, ...(options.args ?? [])];
  const child = spawn(process.execPath, args, {
    // stdin a pipe, SYNCMESH_EXIT_WITH_PARENT: the node leaves when this test process dies.
    stdio: ['pipe', 'pipe', 'pipe'],
    env: { ...process.env, SYNCMESH_EXIT_WITH_PARENT: '1', SYNCMESH_TICKET_SECRET: secrets.ticketSecret, SYNCMESH_JWT_SECRET: secrets.jwtSecret, ...(nkeyFile !== undefined && { SYNCMESH_NATS_NKEY: nkeyFile }), SYNCMESH_LOG_LEVEL: process.env['SYNCMESH_LOG_LEVEL'] ?? 'info' },
  });
  let stderr = '';
  // Its log beside the cluster's (<data-dir>/logs/<node>.log), for a failing test to be read.
  const log = createWriteStream(join(options.dataDir, 'logs', `${options.nodeId}.log`), { flags: 'a' });
  child.stderr!.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-6000);
    log.write(d);
  });
  child.once('exit', () => log.end());
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  const info = await new Promise<RoleNode['info']>((ok, fail) => {
    const timer = setTimeout(() => fail(new Error(`${options.nodeId} not ready within 30 s; stderr:\n${stderr}`)), 30_000);
    createInterface({ input: child.stdout! }).on('line', (line) => {
      if (!line.startsWith('ready ')) return;
      clearTimeout(timer);
      ok(JSON.parse(line.slice(6)) as RoleNode['info']);
    });
    void exited.then((code) => {
      clearTimeout(timer);
      fail(new Error(`${options.nodeId} exited with ${code} before ready; stderr:\n${stderr}`));
    });
  });
  return {
    pid: child.pid!,
    process: child,
    info,
    exited,
    [Symbol.asyncDispose]: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGCONT');
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(timer);
    },
  };
}
