/**
 * An HTTP thread of the distributor (threads.ts starts it): the same app as the main thread's, not
 * listening; the main thread's app hands it connections (child-apps.ts). It allocates from the latest
 * socket table the main thread sent, and logs and reports its answers through the main thread.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { pino } from 'pino';
import { SocketTable } from '../../actors/distributor/mod.js';
import { buildDistributorApp, type DistributorRoute, type HealthState } from './app.js';
import { childApps } from './child-apps.js';
import { tableAllocator, tableHealth } from './allocator.js';
import type { TemplatedApp } from 'uWebSockets.js';
import type { FromThread, ThreadData, ToThread } from './thread-messages.js';

const REPORT_MS = 500;

function post(m: FromThread): void {
  parentPort!.postMessage(m);
}

function main(data: ThreadData): void {
  let table = data.table === undefined ? undefined : SocketTable.of(data.table);
  let health: HealthState = data.health;
  const counts = new Map<string, [DistributorRoute, string, number]>();
  const report = (): void => {
    if (counts.size === 0) return;
    post({ t: 'answered', counts: [...counts.values()] });
    counts.clear();
  };
  const timer = setInterval(report, REPORT_MS);
  const logger = pino({ level: data.logLevel, base: { thread: data.thread } }, { write: (line: string) => post({ t: 'log', line }) });
  let app: TemplatedApp;
  let descriptor: number;
  try {
    app = buildDistributorApp(
      {
        nodeId: data.nodeId,
        thread: data.thread,
        logger,
        allocator: tableAllocator(() => table),
        health: () => tableHealth(health, table),
      },
      {
        ...data.options,
        observer: {
          answered(route, outcome) {
            const key = `${route}\u0000${outcome}`;
            const c = counts.get(key);
            if (c === undefined) counts.set(key, [route, outcome, 1]);
            else c[2]++;
          },
        },
      },
    );
    descriptor = childApps(app).getDescriptor();
  } catch (err) {
    clearInterval(timer);
    post({ t: 'failed', message: err instanceof Error ? err.message : String(err) });
    return;
  }
  // An exit would leave the listening thread handing connections to a dead app until it hears of it:
  // a stray error is logged and the thread serves on (every handler answers its own failures).
  process.on('uncaughtException', (err) => logger.error({ err }, 'uncaught error in a distributor HTTP thread'));
  parentPort!.on('message', (m: ToThread) => {
    if (m.t === 'table') table = m.servers === undefined ? undefined : SocketTable.of(m.servers);
    else if (m.t === 'health') health = m.state;
    else if (m.t === 'close') {
      health = 'closing';
      // Ends the connections it was handed, so the thread can exit.
      app.close();
      clearInterval(timer);
      report();
      post({ t: 'closed' });
      parentPort!.close();
    }
  });
  post({ t: 'ready', descriptor });
}

main(workerData as ThreadData);
