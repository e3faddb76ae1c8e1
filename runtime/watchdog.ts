/**
 * Stops a process when this one dies, however it dies (kill -9 included).
 *
 * nats-server cannot watch its parent (Go ignores its stdin, and Linux sends a child nothing when its
 * parent dies), so a server started by a process that was killed would run on, holding its ports and
 * its store. A tiny watchdog (`/bin/sh`, about a megabyte) holds a pipe from this process: when the pipe
 * closes without a word, this process is gone, and the watchdog sends SIGTERM to the watched pid. Used
 * by the nats-server launcher (every server it starts, unless detached) and by `syncmesh cluster`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import type { Socket } from 'node:net';

export interface Watchdog {
  /** The watched process is being stopped (or is gone) by its owner: the watchdog leaves without touching it. */
  release(): void;
}

export function watchProcess(pid: number): Watchdog {
  if (!Number.isSafeInteger(pid) || pid <= 0) throw new TypeError(`watchProcess needs a process id, got ${pid}`);
  // `read` ends at the first line or at end of input: "release" lets the process be; anything else
  // (end of input: this process died) stops it.
  const script = `read line; [ "$line" = release ] || kill -TERM ${pid} 2>/dev/null; exit 0`;
  const child: ChildProcess = spawn('/bin/sh', ['-c', script], { stdio: ['pipe', 'ignore', 'ignore'], detached: true });
  // Neither the watchdog nor its pipe keeps this process alive.
  child.unref();
  (child.stdin as Socket | null)?.unref();
  child.on('error', () => undefined);
  child.stdin?.on('error', () => undefined);
  let released = false;
  return {
    release: () => {
      if (released) return;
      released = true;
      child.stdin?.end('release\n');
    },
  };
}
