import { describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';

/** Built by `npm test` (npm run build) from test/distributor/fixtures/thread-restart-main.ts. */
const FIXTURE = resolve(process.cwd(), 'dist/test/distributor/fixtures/thread-restart-main.js');

interface Event {
  ev: string;
  /** When the fixture saw it (its clock). */
  at: number;
  d?: number;
  descriptors?: number[];
  line?: { msg?: string; thread?: number; code?: number; level?: number };
}

describe('distributor HTTP threads', () => {
  it('a thread that dies leaves the rotation at once and is started again a second later; close still ends them all', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'syncmesh-thread-restart-'));
    const marker = join(dir, 'exited');
    const child = spawn(process.execPath, [FIXTURE], { env: { ...process.env, SYNCMESH_TEST_THREAD_EXIT_MARKER: marker }, stdio: ['pipe', 'pipe', 'inherit'] });
    const events: Event[] = [];
    createInterface({ input: child.stdout! }).on('line', (l) => events.push(JSON.parse(l) as Event));
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    const waitFor = async (what: string, pred: (e: Event) => boolean, timeoutMs = 15_000): Promise<Event> => {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const found = events.find(pred);
        if (found) return found;
        if (Date.now() > deadline) throw new Error(`no ${what} within ${timeoutMs} ms; events: ${JSON.stringify(events.map((e) => e.ev))}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    };
    try {
      const ready = await waitFor('ready', (e) => e.ev === 'ready');
      expect(ready.descriptors).toHaveLength(2);
      const removed = await waitFor('remove', (e) => e.ev === 'remove');
      expect(ready.descriptors).toContain(removed.d);
      const warned = await waitFor('the exit warning', (e) => e.ev === 'log' && (e.line?.msg ?? '').includes('exited; starting it again'));
      expect(warned.line).toMatchObject({ thread: 1, code: 7 });
      expect(await readFile(marker, 'utf8')).toContain('exited once');
      const added = await waitFor('add', (e) => e.ev === 'add');
      // Taken out at once, back after the restart delay (1 s) and the new thread's start.
      expect(added.at - removed.at).toBeGreaterThanOrEqual(990);
      child.stdin!.write('close\n');
      const closed = await waitFor('closed', (e) => e.ev === 'closed');
      expect(closed.descriptors).toEqual([]);
      expect(await exited).toBe(0);
      // Closing is not an exit to restart from: nothing came back after it.
      expect(events.filter((e) => e.ev === 'add')).toHaveLength(1);
    } finally {
      child.kill('SIGKILL');
      await rm(dir, { recursive: true, force: true });
    }
  }, 30_000);
});
