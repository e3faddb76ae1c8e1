/**
 * The Syncmesh cluster the load runs against, built from the same parts as `npm start`
 * (gateway/cli/cluster.ts): nats-server with JetStream from nats-server.conf, a storage + push node,
 * a gateway (distributor) node, and socket nodes, each `dist/gateway/cli/node.js` in its own process.
 * Unlike `npm start`, socket nodes are added one at a time and can be killed (kill -9) without being
 * restarted, and any node can run with extra Node flags (--cpu-prof).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { Logger } from 'pino';
import { startNatsServer, type NatsServer } from '../../runtime/mod.js';
import { SignJWT } from 'jose';
import { BenchWorkerError } from '../errors.js';
import { nodeProcessEnv, SOCKET_NODE_FLAGS } from '../../gateway/cli/mod.js';

const here = dirname(fileURLToPath(import.meta.url));
/** dist/bench/load -> repository root. */
const root = resolve(here, '..', '..', '..');
const NODE_JS = resolve(here, '..', '..', 'gateway', 'cli', 'node.js');

export interface NodeProcess {
  readonly name: string;
  readonly pid: number;
  readonly info: { node: string; http?: string; socket?: string; metrics?: string };
  /** False once the process has exited. */
  readonly alive: boolean;
  /** SIGTERM (a socket node drains), SIGKILL after 20 s. */
  stop(): Promise<void>;
  /** kill -9: no drain, no goodbye. */
  kill9(): Promise<void>;
}

export interface BenchCluster {
  readonly nats: NatsServer;
  readonly gatewayUrl: string;
  readonly logDir: string;
  readonly sockets: readonly NodeProcess[];
  /** The other node processes: the storage + push node and the gateway (for RSS sampling). */
  readonly nodes: readonly NodeProcess[];
  /** Starts a socket node and waits until the distributor offers it. */
  addSocketNode(execArgv?: readonly string[]): Promise<NodeProcess>;
  /** Waits until the distributor sees `n` live socket nodes. */
  waitSocketServers(n: number, timeoutMs?: number): Promise<void>;
  /** A user token, as the gateway would issue it (HS256 JWT with the cluster's secret). */
  token(userId: string): Promise<string>;
  stop(): Promise<void>;
}

async function spawnNode(name: string, args: readonly string[], env: Record<string, string>, logDir: string, execArgv: readonly string[]): Promise<NodeProcess> {
  const child: ChildProcess = spawn(process.execPath, [...execArgv, NODE_JS, '--node-id', name, ...args], {
    stdio: ['pipe', 'pipe', 'pipe'],
    env: { ...nodeProcessEnv(process.env), ...process.env, ...env, SYNCMESH_EXIT_WITH_PARENT: '1', SYNCMESH_LOG_LEVEL: process.env['SYNCMESH_LOG_LEVEL'] ?? 'warn' },
  });
  const log = createWriteStream(join(logDir, `${name}.log`), { flags: 'a' });
  child.stderr!.pipe(log);
  const info = await new Promise<NodeProcess['info']>((resolveInfo, reject) => {
    const timer = setTimeout(() => reject(new BenchWorkerError(`${name} did not get ready within 60 s; see ${join(logDir, `${name}.log`)}`)), 60_000);
    createInterface({ input: child.stdout! }).on('line', (line) => {
      if (line.startsWith('ready ')) {
        clearTimeout(timer);
        resolveInfo(JSON.parse(line.slice(6)) as NodeProcess['info']);
        return;
      }
      // Anything else on stdout (V8's --trace-gc given through --node-flags, for one) goes to the log too.
      log.write(`${line}\n`);
    });
    // 'close': the process has exited and its stderr has been read to the end.
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      // The log directory goes when the cluster stops, so the error carries the end of the log.
      log.end(() =>
        void logTail(join(logDir, `${name}.log`)).then((tail) =>
          reject(new BenchWorkerError(`${name} exited (code ${code}, signal ${signal}) before it was ready; the end of its log:\n${tail}`)),
        ),
      );
    });
  });
  const gone = (): boolean => child.exitCode !== null || child.signalCode !== null;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  return {
    name,
    pid: child.pid ?? -1,
    info,
    get alive() {
      return !gone();
    },
    stop: async () => {
      if (gone()) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
      await exited;
      clearTimeout(timer);
    },
    kill9: async () => {
      if (gone()) return;
      child.kill('SIGKILL');
      await exited;
    },
  };
}

async function logTail(file: string): Promise<string> {
  try {
    return (await readFile(file, 'utf8')).split('\n').slice(-30).join('\n');
  } catch (err) {
    return `(${file} unreadable: ${err instanceof Error ? err.message : String(err)})`;
  }
}

/** `profileExecArgv`: Node flags for the storage node, the gateway and every socket node (profiling). */
export async function startBenchCluster(log: Logger, opts: { profileExecArgv?: readonly string[] } = {}): Promise<BenchCluster> {
  const dir = await mkdtemp(join(tmpdir(), 'syncmesh-bench-'));
  const logDir = join(dir, 'logs');
  await mkdir(logDir, { recursive: true });
  log.info(`cluster: starting nats-server (logs in ${logDir})`);
  const nats = await startNatsServer({ configFile: join(root, 'nats-server.conf'), port: -1, storeDir: join(dir, 'nats'), logFile: join(logDir, 'nats-server.log') });
  const jwtSecret = randomBytes(24).toString('hex');
  const env = { SYNCMESH_NATS: nats.url, SYNCMESH_TICKET_SECRET: randomBytes(24).toString('hex'), SYNCMESH_JWT_SECRET: jwtSecret };
  const nodes: NodeProcess[] = [];
  const sockets: NodeProcess[] = [];
  const stop = async (): Promise<void> => {
    for (const n of [...sockets].reverse()) await n.stop();
    for (const n of [...nodes].reverse()) await n.stop();
    // Dispose, not stop: stop() keeps the server's temporary directory (its config and ports file) for a restart.
    await nats[Symbol.asyncDispose]();
    // SYNCMESH_BENCH_KEEP_LOGS=1 keeps every node's log (and the JetStream store) for a look afterwards.
    if (process.env['SYNCMESH_BENCH_KEEP_LOGS'] === '1') log.info(`cluster: logs kept in ${logDir}`);
    else await rm(dir, { recursive: true, force: true });
  };
  try {
    log.info('cluster: starting the storage + push node and the gateway');
    const [storage, gateway] = await Promise.all([
      spawnNode('storage-1', ['--roles', 'storage,push', '--metrics-port', '0'], env, logDir, opts.profileExecArgv ?? []),
      spawnNode('gateway-1', ['--roles', 'gateway', '--http-host', '127.0.0.1', '--http-port', '0'], env, logDir, opts.profileExecArgv ?? []),
    ]);
    nodes.push(storage, gateway);
    const gatewayUrl = gateway.info.http;
    if (!gatewayUrl) throw new BenchWorkerError('the gateway did not report its HTTP address');
    const waitSocketServers = async (n: number, timeoutMs = 30_000): Promise<void> => {
      const deadline = Date.now() + timeoutMs;
      let last = '';
      while (Date.now() < deadline) {
        try {
          const body = (await (await fetch(`${gatewayUrl}/healthz`)).json()) as { socketServers?: number };
          if (body.socketServers === n) return;
          last = JSON.stringify(body);
        } catch (err) {
          last = String(err);
        }
        await new Promise((r) => setTimeout(r, 100));
      }
      throw new BenchWorkerError(`the distributor did not see ${n} socket nodes within ${timeoutMs} ms (last answer ${last})`);
    };
    return {
      nats,
      gatewayUrl,
      logDir,
      sockets,
      nodes,
      addSocketNode: async (execArgv = opts.profileExecArgv ?? []) => {
        const name = `socket-${sockets.length + 1}`;
        const node = await spawnNode(name, ['--roles', 'socket', '--socket-host', '127.0.0.1', '--socket-port', '0', '--drain-spread-ms', '1000', '--metrics-port', '0'], env, logDir, [...SOCKET_NODE_FLAGS, ...execArgv]);
        sockets.push(node);
        log.info(`cluster: ${name} ready at ${node.info.socket} (pid ${node.pid})`);
        return node;
      },
      waitSocketServers,
      token: (userId) => signUserToken(jwtSecret, userId),
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** A user token as an application backend issues it (docs/client.md): HS256, `sub` = user id, one hour. */
async function signUserToken(secret: string, userId: string): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject(userId).setIssuedAt(now).setExpirationTime(now + 3600).sign(new TextEncoder().encode(secret));
}
