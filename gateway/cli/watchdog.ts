/**
 * Stops a process when this one dies, however it dies (kill -9 included).
 *
 * nats-server runs in its own process group (so a terminal's Ctrl-C reaches only the launcher, which stops
 * it last) and cannot watch its parent itself. A tiny watchdog process holds a pipe from this one: when the
 * pipe closes without a word, the launcher is gone and the watchdog sends SIGTERM to the watched pid.
 */
import { spawn, type ChildProcess } from 'node:child_process';

const SCRIPT = `
const pid = Number(process.argv[1]);
let released = false;
process.stdin.on('data', (d) => { if (String(d).includes('release')) released = true; });
process.stdin.on('end', () => {
  if (!released) { try { process.kill(pid, 'SIGTERM'); } catch {} }
  process.exit(0);
});
process.stdin.resume();
`;

export interface Watchdog {
  /** The launcher stops the process itself: the watchdog leaves without touching it. */
  release(): void;
}

export function watchProcess(pid: number): Watchdog {
  const child: ChildProcess = spawn(process.execPath, ['-e', SCRIPT, String(pid)], { stdio: ['pipe', 'ignore', 'ignore'], detached: true });
  child.unref();
  return {
    release: () => {
      child.stdin?.end('release\n');
    },
  };
}
