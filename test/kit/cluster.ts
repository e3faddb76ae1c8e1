/**
 * Test kit: the whole local cluster (`syncmesh cluster`, what `npm start` runs, compiled in dist/) on free
 * ports and a temporary data dir, stopped by construction.
 *
 *   await using cluster = await localCluster({ socketNodes: 2 });
 *   cluster.url  // http://127.0.0.1:PORT
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { connect } from '@nats-io/transport-node';
import type { NatsConnection } from '@nats-io/nats-core';
import { natsConnectionOptions } from '../../gateway/nats/mod.js';
import { childEnv, SYNCMESH_JS } from './syncmesh.js';

export interface ClusterState {
  http: string;
  nats: string;
  /** NATS nkey seed file of each role (the local cluster runs with NATS security on). */
  natsSeeds?: Record<string, string>;
  /** CA file when the NATS servers use TLS. */
  natsCa?: string;
  pid: number;
  processes: { name: string; pid: number; node: string; roles: string[]; http?: string; socket?: string; metrics?: string; healthz?: string; readyz?: string }[];
}

export interface LocalCluster {
  readonly url: string;
  readonly dataDir: string;
  readonly state: ClusterState;
  /** Graceful stop (SIGTERM), keeping the data dir. */
  stop(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}


/** `program`: the cluster program to run (default the repository's `syncmesh cluster`; say, an installed package's dist/gateway/cli/cluster.js). */
export async function localCluster(options: { socketNodes?: number; dataDir?: string; extraArgs?: string[]; timeoutMs?: number; program?: string } = {}): Promise<LocalCluster> {
  const ownDir = options.dataDir === undefined;
  const dataDir = options.dataDir ?? (await mkdtemp(join(tmpdir(), 'syncmesh-cluster-')));
  // Default: the bin's cluster command; `program` (an installed package's cluster.js, say) is the same command.
  const command = options.program !== undefined ? [options.program] : [SYNCMESH_JS, 'cluster'];
  const args = [...command, '--http-port', '0', '--nats-port', '0', '--socket-nodes', String(options.socketNodes ?? 2), '--data-dir', dataDir, ...(options.extraArgs ?? [])];
  // stdin is a pipe the cluster watches: if this test process dies (a timed-out worker), the cluster stops too.
  const child: ChildProcess = spawn(process.execPath, args, { stdio: ['pipe', 'pipe', 'pipe'], env: childEnv({ SYNCMESH_LOG_LEVEL: 'info', SYNCMESH_EXIT_WITH_PARENT: '1' }) });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-8000);
  });
  const ready = new Promise<string>((resolveUrl, reject) => {
    const timer = setTimeout(() => reject(new Error(`cluster not ready in time; stderr:\n${stderr}`)), options.timeoutMs ?? 60_000);
    createInterface({ input: child.stdout! }).on('line', (line) => {
      if (line.startsWith('ready ')) {
        clearTimeout(timer);
        resolveUrl(line.slice(6).trim());
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`cluster exited with code ${code} before ready; stderr:\n${stderr}`));
    });
  });
  let url: string;
  try {
    url = await ready;
  } catch (err) {
    child.kill('SIGTERM');
    // The failing node's log goes with the data dir: keep its end in the error.
    const log = /see (\S+\.log)/.exec(stderr)?.[1];
    const tail = log === undefined ? '' : await readFile(log, 'utf8').then((t) => t.split('\n').slice(-30).join('\n'), () => '');
    if (ownDir) await rm(dataDir, { recursive: true, force: true });
    if (tail !== '') throw new Error(`${(err as Error).message}\nend of ${log}:\n${tail}`, { cause: err });
    throw err;
  }
  const state = JSON.parse(await readFile(join(dataDir, 'cluster.json'), 'utf8')) as ClusterState;
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    await exited;
    clearTimeout(timer);
  };
  return {
    url,
    dataDir,
    state,
    stop,
    [Symbol.asyncDispose]: async () => {
      await stop();
      if (ownDir) await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/**
 * A NATS connection to a running local cluster as one role's NATS user (the cluster runs with NATS
 * security on: anonymous connections are refused). The caller closes it.
 */
export async function connectAs(state: ClusterState, role: 'storage' | 'push' | 'socket' | 'gateway'): Promise<NatsConnection> {
  const nkeyFile = state.natsSeeds?.[role];
  if (nkeyFile === undefined) throw new Error(`cluster.json names no NATS key for role ${role}`);
  return connect(await natsConnectionOptions({ servers: state.nats.split(','), roles: [role], nkeyFile }));
}

/** The environment a role process started beside the local cluster needs to reach its NATS as `role`. */
export function roleNatsEnv(state: ClusterState, role: string): Record<string, string> {
  const nkeyFile = state.natsSeeds?.[role];
  return { SYNCMESH_NATS: state.nats, ...(nkeyFile !== undefined && { SYNCMESH_NATS_NKEY: nkeyFile }) };
}
