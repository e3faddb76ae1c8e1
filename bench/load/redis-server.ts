/**
 * Debian's redis-server for the Socket.IO peer's adapter: a free port, a temporary directory, no
 * persistence; stopped by the caller.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../../runtime/mod.js';
import { BenchWorkerError } from '../errors.js';

export interface RedisServer {
  readonly url: string;
  readonly pid: number;
  stop(): Promise<void>;
}

function answers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => s.write('PING\r\n'));
    s.once('data', (d) => {
      s.destroy();
      resolve(d.toString().startsWith('+PONG'));
    });
    s.once('error', () => resolve(false));
  });
}

export async function startRedisServer(): Promise<RedisServer> {
  const dir = await mkdtemp(join(tmpdir(), 'syncmesh-redis-'));
  const port = await freePort();
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no', '--maxclients', '1000'], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let failed: string | undefined;
  child.once('error', (err) => (failed = `could not run redis-server (${err.message}): install it with \`apt-get install -y redis-server\``));
  child.once('exit', (code) => (failed ??= `redis-server exited with code ${code} during start`));
  const deadline = Date.now() + 15_000;
  while (!(await answers(port))) {
    if (failed || Date.now() > deadline) {
      child.kill('SIGKILL');
      await rm(dir, { recursive: true, force: true });
      throw new BenchWorkerError(failed ?? `redis-server did not answer on port ${port} within 15 s`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    url: `redis://127.0.0.1:${port}`,
    pid: child.pid ?? -1,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise<void>((r) => child.once('exit', () => r()));
        child.kill('SIGTERM');
        await exited;
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}
