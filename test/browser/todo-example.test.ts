/**
 * examples/todo in Chromium against the real local cluster: its backend (server.mjs) issues tokens,
 * its page (on another origin than the gateway) imports the client bundle from the gateway, which
 * works only with the bundle's CORS headers. Two browser contexts of one user sync a todo both ways.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium, type BrowserHandle } from '../client/kit/browser.js';
import { localCluster, type LocalCluster } from '../kit/cluster.js';

let cluster: LocalCluster;
let chrome: BrowserHandle;
let backend: ChildProcess | undefined;
let appUrl: string;

beforeAll(async () => {
  [cluster, chrome] = await Promise.all([localCluster({ socketNodes: 2, timeoutMs: 90_000 }), launchChromium()]);
  const child = spawn(process.execPath, ['examples/todo/server.mjs'], {
    env: { ...process.env, PORT: '0', SYNCMESH_URL: cluster.url, SYNCMESH_DATA: cluster.dataDir },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  backend = child;
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  appUrl = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the todo backend did not start; stderr:\n${stderr}`)), 30_000);
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const m = /on (http:\/\/\S+)/.exec(line);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the todo backend exited with ${code}; stderr:\n${stderr}`));
    });
  });
}, 120_000);

afterAll(async () => {
  if (backend && backend.exitCode === null) {
    const exited = new Promise((r) => backend!.once('exit', r));
    backend.kill('SIGTERM');
    await exited;
  }
  await chrome?.[Symbol.asyncDispose]();
  await cluster?.[Symbol.asyncDispose]();
}, 60_000);

describe('examples/todo (Chromium)', () => {
  it('todo example - two browsers of one user: an added todo appears on the other, a tick comes back', { timeout: 120_000 }, async () => {
    expect(new URL(appUrl).origin).not.toBe(new URL(cluster.url).origin);
    const user = `todo-${randomUUID().slice(0, 8)}`;
    const contexts = await Promise.all([chrome.browser.newContext(), chrome.browser.newContext()]);
    const [a, b] = await Promise.all(contexts.map((c) => c.newPage()));
    const errors: string[] = [];
    for (const p of [a!, b!]) {
      p.on('pageerror', (e) => errors.push(e.message));
      await p.goto(`${appUrl}/?user=${user}`);
      await expect.poll(() => p.getByTestId('status').textContent(), { timeout: 30_000 }).toBe('connected');
    }
    await a!.getByTestId('add-text').fill('Buy milk');
    await a!.getByTestId('add').click();
    await expect.poll(() => b!.getByTestId('todo-text').allTextContents(), { timeout: 30_000 }).toEqual(['Buy milk']);
    await b!.getByTestId('toggle').check();
    await expect.poll(() => a!.getByTestId('todo').getAttribute('class'), { timeout: 30_000 }).toBe('done');
    await expect.poll(() => a!.getByTestId('pending').textContent()).toBe('0');
    expect(errors).toEqual([]);
    await Promise.all(contexts.map((c) => c.close()));
  });
});
