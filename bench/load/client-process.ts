/**
 * A load process: holds one population of client connections (at most a few thousand: a process
 * may hold 20,000 open files) from one source address, driven by the bench's main process over IPC
 * (see ipc.ts). Started with child_process.fork by fleet.ts.
 */
import { SyncmeshPopulation } from './syncmesh-population.js';
import { SioPopulation } from './sio-population.js';
import { WsPopulation } from './ws-population.js';
import type { FromLoad, ToLoad } from './ipc.js';
import type { Population } from './population.js';

let population: Population | undefined;

function send(msg: FromLoad): void {
  process.send?.(msg);
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

async function handle(msg: ToLoad): Promise<void> {
  switch (msg.op) {
    case 'open': {
      if (population) await population.close();
      const p = msg.population;
      population =
        p.kind === 'syncmesh' ? new SyncmeshPopulation(p, msg.localAddress) : p.kind === 'sio' ? new SioPopulation(p, msg.localAddress) : new WsPopulation(p, msg.localAddress);
      const result = await population.open(msg.concurrency, msg.timeoutMs, (opened, failed) => send({ op: 'progress', opened, failed }));
      send({ op: 'opened', id: msg.id, result });
      return;
    }
    case 'load': {
      if (!population?.load) throw new Error('this population has no push load: open a syncmesh or sio population first');
      send({ op: 'loaded', id: msg.id, result: await population.load(msg.ratePerSec, msg.warmupMs, msg.durationMs) });
      return;
    }
    case 'watch-live': {
      if (!population?.watchLive) throw new Error('this population does not reconnect: open a syncmesh population first');
      send({ op: 'watched', id: msg.id, result: await population.watchLive(msg.sinceWallMs, msg.node, msg.timeoutMs) });
      return;
    }
    case 'close':
      await population?.close();
      population = undefined;
      send({ op: 'closed', id: msg.id });
      return;
    case 'rss':
      send({ op: 'rss', id: msg.id, rss: process.memoryUsage.rss() });
      return;
  }
}

process.on('message', (msg: ToLoad) => {
  handle(msg).catch((err: unknown) => send({ op: 'failed', id: msg.id, error: message(err) }));
});
// The main process is gone: leave with it.
process.on('disconnect', () => process.exit(0));
// Stopped by the main process: exit normally, so a --cpu-prof profile (bench --profile-dir) is written.
process.once('SIGTERM', () => process.exit(0));
send({ op: 'ready', pid: process.pid });
