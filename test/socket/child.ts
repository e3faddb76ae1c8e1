/**
 * A socket node in a child process (test/socket/fixtures/socket-node-main.ts, compiled to dist/ by
 * `npx tsc -p tsconfig.json`), cleaned up by construction.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { SOCKET_NODE_FLAGS } from '../../gateway/cli/mod.js';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { basename, dirname, join } from 'node:path';
import { connectionId } from '../../protocol/cluster/mod.js';
import { signTicket } from '../../gateway/ticket.js';
import type { SocketServerStats } from '../../gateway/socket/mod.js';
import { SECRET, TestClient } from './kit.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
// From the sources (vitest) the fixture is in dist/; from dist/ itself (npm run fuzz) it is beside us.
const MAIN = join(root, basename(root) === 'dist' ? '' : 'dist', 'test', 'socket', 'fixtures', 'socket-node-main.js');

export interface ChildStats {
  stats: SocketServerStats;
  memory: NodeJS.MemoryUsage;
  /** Hibernated actors (idle sessions) on the node. */
  hibernated: number;
  /** Actors on the node (sessions and the socket server), hibernated ones included. */
  actors: number;
}

export interface ChildSocketNode {
  readonly nodeId: string;
  readonly url: string;
  readonly process: ChildProcess;
  ticket(userId: string, deviceId: string): string;
  client(userId: string, deviceId: string): Promise<TestClient>;
  /** Server stats and memory (after a full GC when started with gc: true, unless `gc` is false: a full GC stalls the node). */
  stats(gc?: boolean): Promise<ChildStats>;
  /** SIGTERM (drain, then exit); resolves with the exit code. */
  terminate(): Promise<number | null>;
  [Symbol.asyncDispose](): Promise<void>;
}

export interface ChildSocketNodeOptions {
  gc?: boolean;
  store?: boolean;
  /** A fixed node id (to restart "the same" node). */
  nodeId?: string;
  /** Socket limits (SocketLimits), e.g. a higher frame rate for fuzzing. */
  limits?: Record<string, number>;
  /** SocketServerOptions.maxConnectionsPerUser. */
  maxConnectionsPerUser?: number;
}

export async function childSocketNode(natsUrl: string, options: ChildSocketNodeOptions = {}): Promise<ChildSocketNode> {
  if (!existsSync(MAIN)) throw new Error(`${MAIN} is missing: run \`npx tsc -p tsconfig.json\` first (npm test does)`);
  const args = [natsUrl, ...(options.store === false ? ['--no-store'] : []), ...(options.nodeId !== undefined ? ['--node-id', options.nodeId] : [])];
  const env = {
    ...process.env,
    ...(options.limits !== undefined && { SOCKET_TEST_LIMITS: JSON.stringify(options.limits) }),
    ...(options.maxConnectionsPerUser !== undefined && { SOCKET_TEST_MAX_CONNECTIONS_PER_USER: String(options.maxConnectionsPerUser) }),
  };
  const child = fork(MAIN, args, { execArgv: [...SOCKET_NODE_FLAGS, ...(options.gc ? ['--expose-gc'] : [])], stdio: ['ignore', 'pipe', 'inherit', 'ipc'], env });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const ready = await new Promise<{ nodeId: string; url: string; run: string }>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error('child socket node did not print ready within 20 s')), 20_000);
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /^ready (.*)$/m.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(JSON.parse(m[1]!) as { nodeId: string; url: string; run: string });
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`child socket node exited with ${code} before ready`));
    });
  });
  const ticket = (userId: string, deviceId: string): string =>
    signTicket(SECRET, { cid: connectionId(userId, deviceId), uid: userId, did: deviceId, node: ready.nodeId, run: ready.run, exp: Date.now() + 30_000 });
  const terminate = async (): Promise<number | null> => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    const code = await exited;
    clearTimeout(timer);
    return code;
  };
  return {
    nodeId: ready.nodeId,
    url: ready.url,
    process: child,
    ticket,
    client: async (userId, deviceId) => {
      const c = await TestClient.open(ready.url, ticket(userId, deviceId));
      await c.take((f) => f['t'] === 'welcome');
      return c;
    },
    stats: (gc = true) =>
      new Promise<ChildStats>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('child socket node did not answer stats')), 20_000);
        const onMessage = (m: { type?: string } & ChildStats): void => {
          if (m.type !== 'stats') return;
          clearTimeout(timer);
          child.off('message', onMessage);
          resolve(m);
        };
        child.on('message', onMessage);
        child.send({ type: 'stats', gc });
      }),
    terminate,
    [Symbol.asyncDispose]: async () => {
      await terminate();
    },
  };
}
