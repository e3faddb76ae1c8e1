/**
 * Test kit for the runtime: node processes (compiled fixture), conditions with deadlines, and an
 * in-process node to drive the cluster from the test.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { pino } from 'pino';
import { hashLanes, pickHashed } from '../../runtime/internal.js';
import { startNode, type ActorKind, type ActorNode, type NodeOptions } from '../../runtime/mod.js';

const FIXTURE = resolve(process.cwd(), 'dist/test/runtime/fixtures/node-main.js');

/** Heartbeat settings shared by test nodes: fast, with room for a loaded 2-core machine. */
export const HEARTBEAT_MS = 150;
export const DOWN_AFTER_MS = 1_500;

export const quietLogger = pino({ level: process.env['LOG_LEVEL'] ?? 'error' });

/** Polls `check` until it returns a truthy value or the deadline passes (then throws `what`). */
export async function waitFor<T>(what: string, check: () => T | Promise<T>, timeoutMs = 15_000): Promise<NonNullable<Awaited<T>>> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v) return v as NonNullable<Awaited<T>>;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await delay(20);
  }
}

export interface NodeProcess {
  readonly id: string;
  readonly proc: ChildProcess;
  /** Resolves with the exit code (or signal name) once the process ended. */
  readonly exited: Promise<number | string>;
  kill9(): Promise<void>;
  sigterm(): Promise<number | string>;
  stderr(): string;
  [Symbol.asyncDispose](): Promise<void>;
}

/**
 * Every node process still running. A test that starts several at once with Promise.all loses the
 * ones that did start when another fails to: they are killed when the test worker exits.
 */
const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const p of running) p.kill('SIGKILL');
});

/** Starts a fixture node process and waits for its `ready` line. */
export async function nodeProcess(natsUrl: string, nodeId: string, env: Record<string, string> = {}): Promise<NodeProcess> {
  if (!existsSync(FIXTURE)) throw new Error(`${FIXTURE} is missing: run \`npx tsc -p tsconfig.json\` before the runtime tests`);
  const proc = spawn(process.execPath, [FIXTURE], {
    env: { ...process.env, NATS_URL: natsUrl, NODE_ID: nodeId, HEARTBEAT_MS: String(HEARTBEAT_MS), DOWN_AFTER_MS: String(DOWN_AFTER_MS), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  proc.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  proc.stderr!.setEncoding('utf8').on('data', (d: string) => (err = (err + d).slice(-20_000)));
  running.add(proc);
  const exited = new Promise<number | string>((res) =>
    proc.once('exit', (code, signal) => {
      running.delete(proc);
      res(code ?? signal ?? -1);
    }),
  );
  let done = false;
  void exited.then(() => (done = true));
  try {
    await waitFor(`node process ${nodeId} to be ready`, () => {
      if (done) throw new Error(`node process ${nodeId} exited during start: ${err}`);
      return out.includes(`ready ${nodeId}`);
    }, 60_000); // a node starts in about a second; a loaded shared machine has taken 30 s for three
  } catch (e) {
    proc.kill('SIGKILL'); // a process that never became ready is not handed out, so nobody else would stop it
    throw e;
  }
  const kill = async (signal: NodeJS.Signals): Promise<number | string> => {
    if (!done) proc.kill(signal);
    return exited;
  };
  return {
    id: nodeId,
    proc,
    exited,
    kill9: async () => void (await kill('SIGKILL')),
    sigterm: () => kill('SIGTERM'),
    stderr: () => err,
    [Symbol.asyncDispose]: async () => void (await kill('SIGKILL')),
  };
}

/** An in-process node for the test to drive the cluster with (closed on dispose). */
export async function testNode(natsUrl: string, nodeId: string, kinds: ActorKind[] = [], extra: Partial<NodeOptions> = {}): Promise<ActorNode & AsyncDisposable> {
  const node = await startNode({ nats: natsUrl, nodeId, kinds, logger: quietLogger, heartbeatMs: HEARTBEAT_MS, downAfterMs: DOWN_AFTER_MS, ...extra });
  return Object.assign(node, { [Symbol.asyncDispose]: () => node.close() });
}

/** `count` ids `<prefix><n>` of virtual kind `kind` whose placement over the nodes `among` is `node`. */
export function idsPlacedOn(node: string, among: readonly string[], kind: string, prefix: string, count: number): string[] {
  const cands = among.map((id) => ({ id, lanes: hashLanes(id) }));
  const out: string[] = [];
  for (let i = 0; out.length < count; i++) if (pickHashed(hashLanes(`${kind}/${prefix}${i}`), cands) === node) out.push(`${prefix}${i}`);
  return out;
}
