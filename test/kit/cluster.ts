/**
 * Test kit: the whole local cluster (`npm start`'s program, compiled in dist/) on free ports and a temporary
 * data dir, stopped by construction.
 *
 *   await using cluster = await localCluster({ socketNodes: 2 });
 *   cluster.url  // http://127.0.0.1:PORT
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';

export interface ClusterState {
  http: string;
  nats: string;
  /** NATS nkey seed file of each role (the local cluster runs with NATS security on). */
  natsSeeds?: Record<string, string>;
  /** CA file when the NATS servers use TLS. */
  natsCa?: string;
  pid: number;
  processes: { name: string; pid: number; node: string; roles: string[]; http?: string; socket?: string; metrics?: string }[];
}

export interface LocalCluster {
  readonly url: string;
  readonly dataDir: string;
  readonly state: ClusterState;
  /** Graceful stop (SIGTERM), keeping the data dir. */
  stop(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

const CLUSTER_JS = resolve('dist/gateway/cli/cluster.js');

/** `program`: the cluster program to run (default the repository's dist/gateway/cli/cluster.js; say, an installed package's). */
export async function localCluster(options: { socketNodes?: number; dataDir?: string; extraArgs?: string[]; timeoutMs?: number; program?: string } = {}): Promise<LocalCluster> {
  const ownDir = options.dataDir === undefined;
  const dataDir = options.dataDir ?? (await mkdtemp(join(tmpdir(), 'syncmesh-cluster-')));
  const args = [options.program ?? CLUSTER_JS, '--http-port', '0', '--nats-port', '0', '--socket-nodes', String(options.socketNodes ?? 2), '--data-dir', dataDir, ...(options.extraArgs ?? [])];
  const child: ChildProcess = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
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
    if (ownDir) await rm(dataDir, { recursive: true, force: true });
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
