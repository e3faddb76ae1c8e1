/**
 * A nats-server started by the launcher (runtime/nats-launcher.ts) does not outlive the process that
 * started it, however that process dies: a test worker killed after a timeout, or `kill -9` of a
 * launcher, must not leave a server holding ports and a store (runtime/watchdog.ts). A server stopped
 * by its owner takes its watchdog with it, and a detached one is left to its owner.
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { until } from '../kit/wait.js';
import { isAlive } from '../kit/pid.js';

const RUNTIME = pathToFileURL(join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'dist', 'runtime', 'mod.js')).href;

/** A Node process that starts a nats-server (detached or not), prints its pid and waits. */
async function launcher(detached: boolean): Promise<{ parent: ReturnType<typeof spawn>; serverPid: number }> {
  const script = `import { startNatsServer } from ${JSON.stringify(RUNTIME)};
const ns = await startNatsServer({ jetstream: false, detached: ${detached} });
console.log('server ' + ns.pid);
setInterval(() => {}, 1000);`;
  const parent = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  const serverPid = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the launcher did not print its server pid within 20 s')), 20_000);
    createInterface({ input: parent.stdout! }).on('line', (line) => {
      if (!line.startsWith('server ')) return;
      clearTimeout(timer);
      resolve(Number(line.slice(7)));
    });
    parent.once('exit', (code) => reject(new Error(`the launcher exited (code ${code}) before its server was up`)));
  });
  return { parent, serverPid };
}

describe('runtime - nats-server launcher', () => {
  it('runtime - a server goes when the process that started it is killed (kill -9); a detached one stays for its owner', async () => {
    const plain = await launcher(false);
    const detached = await launcher(true);
    try {
      expect(isAlive(plain.serverPid) && isAlive(detached.serverPid)).toBe(true);
      plain.parent.kill('SIGKILL');
      detached.parent.kill('SIGKILL');
      await until(() => !isAlive(plain.serverPid), 'the server of the killed launcher to stop', 10_000);
      expect(isAlive(detached.serverPid), 'a detached server is its owner to stop').toBe(true);
    } finally {
      for (const pid of [plain.serverPid, detached.serverPid]) if (isAlive(pid)) process.kill(pid, 'SIGTERM');
    }
  });
});
