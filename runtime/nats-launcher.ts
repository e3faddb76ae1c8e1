/**
 * Starts nats-server as a child process: one server, or a cluster of servers with JetStream.
 *
 * Used by `npm start` (the local cluster) and by every test (through test/kit). Servers listen on
 * ports the OS picks (`port: -1` and a ports file), so nothing collides; a restarted server keeps
 * the client port it had, so clients reconnect to it.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as delay } from 'node:timers/promises';
import { watchProcess } from './watchdog.js';

/** What to start. Every field is optional. */
export interface NatsServerOptions {
  /** Client port; -1 (the default) lets the OS pick one. */
  port?: number;
  /** Enable JetStream (default true). */
  jetstream?: boolean;
  /** JetStream store directory; a fresh temporary one when absent. */
  storeDir?: string;
  /** Server name (needed in a cluster). */
  name?: string;
  /**
   * Cluster membership. `routeUser`: the route credentials every server requires and presents
   * (in the route URLs); `extra`: more text inside the `cluster {}` block (route TLS, say).
   */
  cluster?: { name: string; listenPort: number; routes: number[]; routeUser?: { user: string; password: string }; extra?: string };
  /** Extra config text appended to the generated configuration. */
  extraConfig?: string;
  /**
   * Start from this config file (for example nats-server.conf) instead of a generated one. Its `port` and
   * monitoring port are overridden (`port`, and a free monitoring port), and `$SYNCMESH_NATS_STORE_DIR` in it
   * resolves to `storeDir`.
   */
  configFile?: string;
  /** Where the server's log goes (default: a file in its work directory). */
  logFile?: string;
  /**
   * Run in its own process group, so a terminal's Ctrl-C reaches only the parent (which stops it last).
   * A server that is not detached is stopped when this process dies, even by kill -9 (runtime/watchdog.ts):
   * a test runner that kills a worker leaves no server behind. A detached one is the caller's to watch.
   */
  detached?: boolean;
  /** How long to wait for the server to accept connections (default 15 s). */
  startTimeoutMs?: number;
}

/** A running nats-server child process. */
export interface NatsServer {
  /** `nats://127.0.0.1:PORT`. */
  readonly url: string;
  readonly port: number;
  /** `http://127.0.0.1:PORT` of the monitoring endpoint. */
  readonly monitorUrl: string;
  readonly storeDir: string;
  readonly pid: number;
  /** Graceful stop (SIGTERM, then SIGKILL after 5 s). */
  stop(): Promise<void>;
  /** kill -9: no goodbye to anyone. */
  kill9(): Promise<void>;
  /** Start again with the same ports, config and store. */
  restart(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/** Thrown when nats-server is missing or does not come up. The message says what to do. */
export class NatsServerError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'NatsServerError';
  }
}

const INSTALL_HINT =
  'nats-server was not found on PATH. Install it with `sudo apt-get install -y nats-server` (Debian/Ubuntu), ' +
  '`brew install nats-server` (macOS), or run `npm run setup` (it fetches a current one into .tools/nats-server/); or set NATS_SERVER_BIN to its path.';

/**
 * Go's garbage-collection target for the nats-servers started here, unless GOGC is set already: 25
 * instead of Go's 100 lets the heap grow to 1.25x the live heap between collections instead of 2x.
 * P4 (15k connections, nats-server RSS per connection 60 s after the last open), runs alternating:
 * 1.38-1.96 KB with 100, 1.05-1.32 KB with 50, 0.82-0.85 KB with 25; nats-server's CPU over a whole
 * P5 (1k commits/s) was the same with 25 as with 50 (docs/performance.md, P4 "Session 10" and
 * "Session 11"). docs/deployment.md gives the same setting for production.
 */
export const NATS_GOGC = '25';

/** Where `npm run setup` puts a current nats-server (scripts/setup.sh), relative to the package's root. */
export const TOOLS_NATS_SERVER = join('.tools', 'nats-server', 'nats-server');

/**
 * The nats-server binary: NATS_SERVER_BIN when set; else the one `npm run setup` fetched into this
 * package's `.tools/nats-server/` (looked for from `from`, this module's folder, upwards: the source and
 * the compiled module sit at different depths); else `nats-server` on PATH. Throws with install advice.
 */
export function natsServerBinary(from: string = dirname(fileURLToPath(import.meta.url))): string {
  const bin = process.env['NATS_SERVER_BIN'] ?? toolsNatsServer(from) ?? 'nats-server';
  const probe = spawnSync(bin, ['--version'], { encoding: 'utf8' });
  if (probe.error || probe.status !== 0) throw new NatsServerError(INSTALL_HINT, { cause: probe.error });
  return bin;
}

/** `.tools/nats-server/nats-server` in `from` or up to three folders above it, if there is one. */
function toolsNatsServer(from: string): string | undefined {
  let dir = from;
  for (let up = 0; up <= 3; up++) {
    const candidate = join(dir, TOOLS_NATS_SERVER);
    if (existsSync(candidate)) return candidate;
    const parent = dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  return undefined;
}

/** A TCP port that was free a moment ago (for cluster routes, which must be known in advance). */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, host, () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

function configText(o: NatsServerOptions, port: number, storeDir: string): string {
  const lines: string[] = [];
  lines.push(`port: ${port}`, 'host: "127.0.0.1"', 'http: "127.0.0.1:-1"', 'max_payload: 8MB');
  if (o.name) lines.push(`server_name: "${o.name}"`);
  if (o.jetstream !== false) lines.push(`jetstream { store_dir: "${storeDir}" }`);
  if (o.cluster) {
    const c = o.cluster;
    const cred = c.routeUser ? `${encodeURIComponent(c.routeUser.user)}:${encodeURIComponent(c.routeUser.password)}@` : '';
    const routes = c.routes.map((p) => `"nats-route://${cred}127.0.0.1:${p}"`).join(', ');
    const auth = c.routeUser ? `\n  authorization { user: ${JSON.stringify(c.routeUser.user)}, password: ${JSON.stringify(c.routeUser.password)}, timeout: 2 }` : '';
    lines.push(`cluster {\n  name: "${c.name}"\n  listen: "127.0.0.1:${c.listenPort}"\n  routes: [${routes}]${auth}${c.extra ? `\n  ${c.extra}` : ''}\n}`);
  }
  if (o.extraConfig) lines.push(o.extraConfig);
  return lines.join('\n') + '\n';
}

interface Ports {
  nats: string[];
  monitoring?: string[];
}

async function waitForPorts(dir: string, pid: number, child: ChildProcess, deadline: number, logFile: string): Promise<Ports> {
  const file = join(dir, `nats-server_${pid}.ports`);
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      const log = await readFile(logFile, 'utf8').catch(() => '');
      throw new NatsServerError(`nats-server exited during start (code ${child.exitCode}). Its log:\n${log.slice(-2000)}`);
    }
    try {
      return JSON.parse(await readFile(file, 'utf8')) as Ports;
    } catch {
      await delay(25); // the ports file is written once the listeners are up
    }
  }
  throw new NatsServerError(`nats-server did not report its ports within the deadline; see ${logFile}`);
}

async function waitHealthy(monitorUrl: string, deadline: number, jetstream: boolean): Promise<void> {
  const path = jetstream ? '/healthz?js-enabled-only=true' : '/healthz';
  let last = '';
  while (Date.now() < deadline) {
    try {
      const res = await fetch(monitorUrl + path);
      if (res.ok) return;
      last = await res.text();
    } catch (err) {
      last = String(err);
    }
    await delay(50);
  }
  throw new NatsServerError(`nats-server at ${monitorUrl} did not become healthy in time: ${last}`);
}

/**
 * Waits until every server in `servers` names the same JetStream meta leader, and that leader is one of
 * them (after a server is killed, the others keep naming it until they elect a new one).
 */
export async function waitMetaLeader(servers: readonly NatsServer[], deadline: number): Promise<void> {
  const get = async <T>(url: string): Promise<T | undefined> => {
    try {
      return (await (await fetch(url)).json()) as T;
    } catch {
      return undefined;
    }
  };
  while (Date.now() < deadline) {
    const names = await Promise.all(servers.map(async (s) => (await get<{ server_name?: string }>(`${s.monitorUrl}/varz`))?.server_name ?? ''));
    const leaders = await Promise.all(
      servers.map(async (s) => (await get<{ meta_cluster?: { leader?: string } }>(`${s.monitorUrl}/jsz`))?.meta_cluster?.leader ?? ''),
    );
    const leader = leaders[0];
    if (leader && names.includes(leader) && leaders.every((l) => l === leader)) return;
    await delay(50);
  }
  throw new NatsServerError('the nats-server cluster did not elect a JetStream meta leader in time; see the servers\' logs');
}

/** Starts one nats-server and resolves once it accepts connections. */
export async function startNatsServer(options: NatsServerOptions = {}): Promise<NatsServer> {
  const bin = natsServerBinary();
  const work = await mkdtemp(join(tmpdir(), 'syncmesh-nats-'));
  const storeDir = options.storeDir ?? join(work, 'js');
  await mkdir(storeDir, { recursive: true });
  const logFile = options.logFile ?? join(work, 'nats-server.log');
  const confFile = join(work, 'nats.conf');
  let port = options.port ?? -1;
  let monitorUrl = '';
  let child: ChildProcess | undefined;

  const launch = async (): Promise<void> => {
    for (const f of await readdir(work)) if (f.endsWith('.ports')) await rm(join(work, f), { force: true });
    let args: string[];
    if (options.configFile) {
      args = ['-c', options.configFile, '-p', String(port), '-m', '-1'];
    } else {
      await writeFile(confFile, configText(options, port, storeDir));
      args = ['-c', confFile];
    }
    const c = spawn(bin, [...args, '--ports_file_dir', work, '-l', logFile], {
      stdio: 'ignore',
      detached: options.detached ?? false,
      env: { ...process.env, GOGC: process.env['GOGC'] ?? NATS_GOGC, SYNCMESH_NATS_STORE_DIR: storeDir },
    });
    child = c;
    const spawned = await new Promise<number>((resolve, reject) => {
      c.once('spawn', () => resolve(c.pid ?? -1));
      c.once('error', (err) => reject(new NatsServerError(`could not start ${bin}: ${err.message}`, { cause: err })));
    });
    if (!options.detached) {
      const watchdog = watchProcess(spawned);
      c.once('exit', () => watchdog.release());
    }
    const deadline = Date.now() + (options.startTimeoutMs ?? 15_000);
    const ports = await waitForPorts(work, spawned, c, deadline, logFile);
    const natsUrl = ports.nats[0];
    const mon = ports.monitoring?.[0];
    if (!natsUrl || !mon) throw new NatsServerError(`nats-server ports file lacks client or monitoring port: ${JSON.stringify(ports)}`);
    port = Number(new URL(natsUrl).port);
    monitorUrl = mon;
    // A clustered JetStream server is only healthy once it has met its peers; callers wait for that.
    if (!options.cluster) await waitHealthy(monitorUrl, deadline, options.jetstream !== false);
  };

  const terminate = async (signal: NodeJS.Signals): Promise<void> => {
    const c = child;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => c.once('exit', () => resolve()));
    c.kill(signal);
    const timer = setTimeout(() => c.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(timer);
  };

  await launch();
  const handle: NatsServer = {
    get url() {
      return `nats://127.0.0.1:${port}`;
    },
    get port() {
      return port;
    },
    get monitorUrl() {
      return monitorUrl;
    },
    get pid() {
      return child?.pid ?? -1;
    },
    storeDir,
    stop: () => terminate('SIGTERM'),
    kill9: () => terminate('SIGKILL'),
    restart: async () => {
      await terminate('SIGTERM');
      await launch();
    },
    [Symbol.asyncDispose]: async () => {
      await terminate('SIGTERM');
      await rm(work, { recursive: true, force: true });
    },
  };
  return handle;
}

/** A cluster of nats-servers with JetStream, routes between all of them. */
export interface NatsCluster {
  readonly servers: NatsServer[];
  /** Client URLs of every server. */
  readonly urls: string[];
  [Symbol.asyncDispose](): Promise<void>;
}

/** Options of {@link startNatsCluster}. */
export interface NatsClusterOptions {
  startTimeoutMs?: number;
  /** Text added to every server's configuration (an `authorization` block, a client `tls` block). */
  extraConfig?: string;
  /** Route credentials every server requires and presents. */
  routeUser?: { user: string; password: string };
  /** Text inside every server's `cluster {}` block (route `tls`, say). */
  clusterExtra?: string;
}

/** Starts `size` clustered servers (default 3) and waits until JetStream has a meta leader. */
export async function startNatsCluster(size = 3, options: NatsClusterOptions = {}): Promise<NatsCluster> {
  const clusterPorts = await Promise.all(Array.from({ length: size }, () => freePort()));
  const name = `sm${process.pid}${Math.floor(Math.random() * 1e6)}`;
  const servers = await Promise.all(
    clusterPorts.map((listenPort, i) =>
      startNatsServer({
        name: `${name}-${i}`,
        cluster: {
          name,
          listenPort,
          routes: clusterPorts.filter((p) => p !== listenPort),
          ...(options.routeUser && { routeUser: options.routeUser }),
          ...(options.clusterExtra !== undefined && { extra: options.clusterExtra }),
        },
        ...(options.extraConfig !== undefined && { extraConfig: options.extraConfig }),
        ...(options.startTimeoutMs ? { startTimeoutMs: options.startTimeoutMs } : {}),
      }),
    ),
  );
  const deadline = Date.now() + (options.startTimeoutMs ?? 30_000);
  await Promise.all(servers.map((s) => waitHealthy(s.monitorUrl, deadline, false)));
  await waitMetaLeader(servers, deadline);
  return {
    servers,
    get urls() {
      return servers.map((s) => s.url);
    },
    [Symbol.asyncDispose]: async () => {
      await Promise.all(servers.map((s) => s[Symbol.asyncDispose]()));
    },
  };
}
