/**
 * indexedDbCache in a real browser: the client bundle (built here with esbuild, as scripts/bundle-client.mjs
 * does) runs in headless Chromium; a second cache instance on the same database must read back what the
 * first one wrote.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { build } from 'esbuild';
import { launchChromium, serveDirectory } from './kit/browser.js';

let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(process.cwd(), '.tmp', 'idb-'));
  await build({ entryPoints: ['client/mod.ts'], bundle: true, platform: 'browser', format: 'esm', outfile: join(dir, 'syncmesh-client.js'), logLevel: 'error' });
  await writeFile(join(dir, 'index.html'), '<!doctype html><title>idb</title>');
});

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('client indexedDbCache (Chromium)', () => {
  it('indexedDbCache - records, tombstones and cursors survive a new instance; clear removes them', async () => {
    await using server = await serveDirectory(dir);
    await using chrome = await launchChromium();
    const page = await chrome.browser.newPage();
    await page.goto(`${server.url}/index.html`);
    // Runs in the page as a module; a string, so the test runner does not rewrite its dynamic import.
    const result = (await page.evaluate(`import('/syncmesh-client.js').then(async ({ indexedDbCache }) => {
      const first = indexedDbCache('test-db');
      await first.open();
      first.write('bookmarks', [
        { key: 'a', value: { title: 'A', n: 2n ** 40n, bytes: Uint8Array.from([1, 2, 3]) }, rev: 4, deleted: false },
        { key: 'b', value: 'gone soon', rev: 5, deleted: false },
      ], 5);
      first.write('bookmarks', [{ key: 'b', rev: 6, deleted: true }], 6);
      first.write('other', [{ key: 'x', value: 1, rev: 7, deleted: false }], 7);
      await first.close();

      const second = indexedDbCache('test-db');
      await second.open();
      const a = second.get('bookmarks', 'a');
      const reopened = {
        a: a && { title: a.value.title, n: String(a.value.n), bytes: [...a.value.bytes], rev: a.rev },
        b: second.get('bookmarks', 'b'),
        cursor: second.cursor('bookmarks'),
        collections: second.collections().sort(),
      };
      second.clear('bookmarks');
      await second.close();

      const third = indexedDbCache('test-db');
      await third.open();
      const cleared = { entries: third.entries('bookmarks').length, cursor: third.cursor('bookmarks'), other: third.get('other', 'x')?.value };
      await third.close();
      return { reopened, cleared };
    })`)) as { reopened: unknown; cleared: unknown };

    expect(result.reopened).toEqual({
      a: { title: 'A', n: String(2n ** 40n), bytes: [1, 2, 3], rev: 4 },
      b: { rev: 6, deleted: true },
      cursor: 6,
      collections: ['bookmarks', 'other'],
    });
    expect(result.cleared).toEqual({ entries: 0, cursor: 0, other: 1 });
  });

  it('indexedDbCache - the storage epoch survives a new instance; reset empties every collection; a version-1 database opens', async () => {
    await using server = await serveDirectory(dir);
    await using chrome = await launchChromium();
    const page = await chrome.browser.newPage();
    await page.goto(`${server.url}/index.html`);
    const result = (await page.evaluate(`import('/syncmesh-client.js').then(async ({ indexedDbCache }) => {
      const first = indexedDbCache('epoch-db');
      await first.open();
      const fresh = first.epoch() ?? null;
      first.write('a', [{ key: 'old', value: 1, rev: 9, deleted: false }], 9);
      first.reset('epoch-1');
      first.write('b', [{ key: 'new', value: 2, rev: 1, deleted: false }], 1);
      await first.close();

      const second = indexedDbCache('epoch-db');
      await second.open();
      const reopened = { epoch: second.epoch(), collections: second.collections(), old: second.get('a', 'old') ?? null, cursorA: second.cursor('a'), b: second.get('b', 'new') };
      second.reset('epoch-2');
      await second.close();
      const third = indexedDbCache('epoch-db');
      await third.open();
      const afterReset = { epoch: third.epoch(), collections: third.collections() };
      await third.close();

      // A database written by the version-1 cache (no epoch store): its records are kept, its epoch is unknown.
      await new Promise((resolve, reject) => {
        const req = indexedDB.open('v1-db', 1);
        req.onupgradeneeded = () => { req.result.createObjectStore('records'); req.result.createObjectStore('cursors'); };
        req.onerror = () => reject(req.error);
        req.onsuccess = () => {
          const db = req.result;
          const tx = db.transaction(['records', 'cursors'], 'readwrite');
          tx.objectStore('records').put({ value: 'kept', rev: 5, deleted: false }, ['c', 'k']);
          tx.objectStore('cursors').put(5, 'c');
          tx.oncomplete = () => { db.close(); resolve(undefined); };
          tx.onerror = () => reject(tx.error);
        };
      });
      const upgraded = indexedDbCache('v1-db');
      await upgraded.open();
      const v1 = { epoch: upgraded.epoch() ?? null, value: upgraded.get('c', 'k')?.value, cursor: upgraded.cursor('c') };
      await upgraded.close();
      return { fresh, reopened, afterReset, v1 };
    })`)) as Record<string, unknown>;

    expect(result).toEqual({
      fresh: null,
      reopened: { epoch: 'epoch-1', collections: ['b'], old: null, cursorA: 0, b: { value: 2, rev: 1, deleted: false } },
      afterReset: { epoch: 'epoch-2', collections: [] },
      v1: { epoch: null, value: 'kept', cursor: 5 },
    });
  });

  it('indexedDbCache - queued writes survive a new instance in order, a reset keeps them, dequeue removes them', async () => {
    await using server = await serveDirectory(dir);
    await using chrome = await launchChromium();
    const page = await chrome.browser.newPage();
    await page.goto(`${server.url}/index.html`);
    const result = (await page.evaluate(`import('/syncmesh-client.js').then(async ({ indexedDbCache }) => {
      const w = (txid, key, value) => ({ txid, collection: 'notes', changes: [{ key, value, deleted: false, base: 0 }], queuedAt: 1 });
      const first = indexedDbCache('outbox-db');
      await first.open();
      for (const [txid, key] of [['t3', 'c'], ['t1', 'a'], ['t2', 'b']]) first.enqueue(w(txid, key, { n: 2n ** 40n }));
      first.dequeue('t1');
      await first.close();
      const second = indexedDbCache('outbox-db');
      await second.open();
      const reopened = second.queued().map((q) => [q.txid, q.changes[0].key, String(q.changes[0].value.n)]);
      second.reset('epoch-x');
      second.enqueue(w('t4', 'd', 4));
      second.dequeue('t3');
      await second.close();
      const third = indexedDbCache('outbox-db');
      await third.open();
      const after = third.queued().map((q) => q.txid);
      await third.close();
      return { reopened, after };
    })`)) as Record<string, unknown>;
    expect(result).toEqual({ reopened: [['t3', 'c', String(2n ** 40n)], ['t2', 'b', String(2n ** 40n)]], after: ['t2', 't4'] });
  });
});
