/**
 * Allocations per second through the distributor's HTTP API (P6 of `npm run bench`, and by hand):
 * POST /v1/connect with keep-alive connections, the server in its own process.
 *
 *   npm run build && node dist/bench/ours/distributor-load.js [--mode table|actor]
 *       [--connections 64] [--seconds 5] [--users 2000] [--threads 1]
 *
 * `table`: the HTTP layer over a SocketTable of 4 socket servers (no NATS). `actor`: the shipping
 * path, startDistributor on a runtime node whose distributor actor sees 4 socket nodes through a real
 * nats-server; `--threads N`: its HTTP API on N threads of the one process (DistributorOptions.threads,
 * actor mode). The client speaks raw HTTP/1.1 over net sockets (one request in flight per
 * connection), which costs far less CPU than node:http, so the server is what is measured.
 */
import { spawn } from 'node:child_process';
import { connect as netConnect, type Socket } from 'node:net';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { createInterface } from 'node:readline';
import { SignJWT } from 'jose';
import { pino } from 'pino';

const JWT_SECRET = 'load-jwt-secret-0123456789abcdef';
const TICKET_SECRET = 'load-ticket-secret-0123456789abc';

function flag(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : fallback;
}

function fakeSocketMeta(i: number): Record<string, string | number> {
  return { socketHost: '127.0.0.1', socketPort: 9200 + i, socketUrl: `ws://127.0.0.1:${9200 + i}/ws` };
}

const distributorOptions = {
  host: '127.0.0.1',
  port: 0,
  ticketSecret: TICKET_SECRET,
  jwt: { secret: JWT_SECRET },
  devMode: false,
  rateLimit: { perUserPerSec: 0, perIpPerSec: 0 },
};

/** The server reports its CPU time on request, so the result can be given per server CPU-second. */
function reportCpuOnStdin(): void {
  createInterface({ input: process.stdin }).on('line', () => {
    const { user, system } = process.cpuUsage();
    process.stdout.write(`cpu ${user + system}\n`);
  });
}

async function serveTable(): Promise<void> {
  reportCpuOnStdin();
  const { SocketTable } = await import('../../actors/distributor/socket-table.js');
  const { listenDistributorApp } = await import('../../gateway/distributor/app.js');
  const table = SocketTable.fromMembers(
    Array.from({ length: 4 }, (_, i) => ({ nodeId: `sock-${i}`, roles: ['socket'], kinds: [], meta: fakeSocketMeta(i), draining: false, startedAt: 0, lastSeen: 0 })),
  );
  const server = await listenDistributorApp(
    { nodeId: 'gw', logger: pino({ level: 'warn' }), allocator: { allocate: async (cid) => table.pick(cid), socketServers: async () => table.size }, health: () => 'ready' },
    distributorOptions,
  );
  process.stdout.write(`listening ${server.url}\n`);
}

async function serveActor(threads: number): Promise<void> {
  reportCpuOnStdin();
  const { startNatsServer } = await import('../../runtime/mod.js');
  const { startNode } = await import('../../runtime/mod.js');
  const { distributorKind } = await import('../../actors/distributor/mod.js');
  const { startDistributor } = await import('../../gateway/distributor/mod.js');
  const ns = await startNatsServer();
  const logger = pino({ level: 'warn' });
  const sockets = await Promise.all(
    Array.from({ length: 4 }, (_, i) => startNode({ nats: ns.url, nodeId: `sock-${i}`, roles: ['socket'], meta: fakeSocketMeta(i), logger })),
  );
  const gw = await startNode({ nats: ns.url, nodeId: 'gw', roles: ['gateway'], kinds: [distributorKind], logger });
  const server = await startDistributor(gw, { ...distributorOptions, threads });
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    const res = await fetch(`${server.url}/healthz`);
    if (res.ok && ((await res.json()) as { socketServers: number }).socketServers === 4) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  process.stdout.write(`listening ${server.url}\n`);
  process.on('SIGTERM', () => {
    void (async () => {
      await server.close();
      for (const n of [gw, ...sockets]) await n.close();
      // Dispose, not stop: stop() keeps the server's temporary directory for a restart.
      await ns[Symbol.asyncDispose]();
      process.exit(0);
    })();
  });
}

interface Result {
  done: number;
  statuses: Map<number, number>;
  latencies: number[];
}

/**
 * One keep-alive connection sending requests back to back until `until`, one in flight. (No HTTP
 * pipelining: uWS closes a connection whose next request arrives before an async answer, and no
 * browser pipelines anyway.)
 */
function drive(port: number, requests: Buffer[], offset: number, until: number, result: Result): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket: Socket = netConnect(port, '127.0.0.1');
    socket.setNoDelay(true);
    let next = offset;
    let buf: Buffer = Buffer.alloc(0);
    let sentAt = 0;
    const send = (): void => {
      if (Date.now() >= until) {
        socket.end();
        resolve();
        return;
      }
      sentAt = performance.now();
      socket.write(requests[next++ % requests.length]!);
    };
    socket.on('connect', send);
    socket.on('error', reject);
    socket.on('data', (d: Buffer) => {
      buf = buf.length === 0 ? d : Buffer.concat([buf, d]);
      for (;;) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        const head = buf.subarray(0, end).toString('latin1');
        const m = /content-length: *(\d+)/i.exec(head);
        const total = end + 4 + (m ? Number(m[1]) : 0);
        if (buf.length < total) return;
        const status = Number(head.slice(9, 12));
        result.statuses.set(status, (result.statuses.get(status) ?? 0) + 1);
        result.latencies.push(performance.now() - sentAt);
        result.done++;
        buf = buf.subarray(total);
        send();
      }
    });
  });
}

/** What one measurement gives. */
export interface AllocationFigure {
  readonly mode: 'table' | 'actor';
  readonly connections: number;
  /** HTTP threads of the server process. */
  readonly threads: number;
  readonly allocationsPerSec: number;
  /** Share of one core the server process used during the measure, in percent. */
  readonly serverCpuPct: number;
  readonly allocationsPerServerCpuSecond: number;
  readonly statuses: Readonly<Record<string, number>>;
  readonly p50Ms: number;
  readonly p99Ms: number;
}

/**
 * Starts the distributor in its own process (`table`: the HTTP layer over a table of 4 socket servers;
 * `actor`: the shipping path, the distributor actor on a runtime node over a real nats-server), warms it
 * up for 1.5 s, then drives it from `connections` keep-alive connections for `seconds`.
 */
export async function measureAllocations(o: { mode: 'table' | 'actor'; connections: number; seconds: number; users: number; threads?: number }): Promise<AllocationFigure> {
  const { mode, connections, seconds, users } = o;
  const threads = o.threads ?? 1;
  const child = spawn(process.execPath, [...(process.env.P6_PROF_DIR ? ['--cpu-prof', '--cpu-prof-dir', process.env.P6_PROF_DIR] : []), fileURLToPath(import.meta.url), '--serve', mode, String(threads)], { stdio: ['pipe', 'pipe', 'inherit'] });
  try {
    const lines = createInterface({ input: child.stdout! });
    let onCpu: ((micros: number) => void) | undefined;
    const url = await new Promise<string>((resolve, reject) => {
      lines.on('line', (line) => {
        if (line.startsWith('listening ')) resolve(line.slice(10));
        if (line.startsWith('cpu ')) onCpu?.(Number(line.slice(4)));
      });
      child.on('exit', (code) => reject(new Error(`the distributor load server exited with ${code}`)));
    });
    const serverCpu = (): Promise<number> =>
      new Promise((resolve) => {
        onCpu = resolve;
        child.stdin!.write('cpu\n');
      });
    const port = Number(new URL(url).port);
    const requests: Buffer[] = [];
    for (let u = 0; u < users; u++) {
      const userId = `load-user-${u}`;
      const token = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject(userId).setExpirationTime('1h').sign(new TextEncoder().encode(JWT_SECRET));
      for (let d = 0; d < 4; d++) {
        const body = JSON.stringify({ userId, deviceId: `device-${d}` });
        requests.push(Buffer.from(`POST /v1/connect HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`));
      }
    }
    // Warm-up (JIT, token cache), then the measured run.
    const warm: Result = { done: 0, statuses: new Map(), latencies: [] };
    await Promise.all(Array.from({ length: connections }, (_, i) => drive(port, requests, i * 97, Date.now() + 1_500, warm)));
    const result: Result = { done: 0, statuses: new Map(), latencies: [] };
    const cpuBefore = await serverCpu();
    const start = Date.now();
    await Promise.all(Array.from({ length: connections }, (_, i) => drive(port, requests, i * 131, start + seconds * 1000, result)));
    const elapsed = (Date.now() - start) / 1000;
    const cpuSeconds = ((await serverCpu()) - cpuBefore) / 1e6;
    result.latencies.sort((a, b) => a - b);
    const pct = (p: number): number => result.latencies[Math.floor(p * (result.latencies.length - 1))] ?? 0;
    return {
      mode,
      connections,
      threads,
      allocationsPerSec: result.done / elapsed,
      serverCpuPct: (100 * cpuSeconds) / elapsed,
      allocationsPerServerCpuSecond: result.done / cpuSeconds,
      statuses: Object.fromEntries([...result.statuses].map(([k, v]) => [String(k), v])),
      p50Ms: pct(0.5),
      p99Ms: pct(0.99),
    };
  } finally {
    child.kill('SIGTERM');
  }
}

async function load(): Promise<void> {
  const mode = flag('mode', 'table') === 'actor' ? 'actor' : 'table';
  const f = await measureAllocations({ mode, connections: Number(flag('connections', '64')), seconds: Number(flag('seconds', '5')), users: Number(flag('users', '2000')), threads: Number(flag('threads', '1')) });
  process.stdout.write(
    `mode=${f.mode} threads=${f.threads} connections=${f.connections} allocations/s=${Math.round(f.allocationsPerSec)} ` +
      `server-cpu=${f.serverCpuPct.toFixed(0)}% allocations-per-server-cpu-second=${Math.round(f.allocationsPerServerCpuSecond)} ` +
      `statuses=${JSON.stringify(f.statuses)} p50=${f.p50Ms.toFixed(2)}ms p99=${f.p99Ms.toFixed(2)}ms\n`,
  );
}

const serveAt = process.argv.indexOf('--serve');
const isMain = process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href;
if (isMain && serveAt >= 0) {
  const mode = process.argv[serveAt + 1];
  (mode === 'actor' ? serveActor(Number(process.argv[serveAt + 2] ?? '1')) : serveTable()).catch((err: unknown) => {
    process.stderr.write(`load server failed: ${String(err)}\n`);
    process.exit(1);
  });
} else if (isMain) {
  load().catch((err: unknown) => {
    process.stderr.write(`load failed: ${String(err)}\n`);
    process.exit(1);
  });
}
