/**
 * The React binding (client/react) in Chromium with react-dom: components re-render when their
 * collection or key changes, and only then.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium, serveDirectory } from './kit/browser.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(process.cwd(), '.tmp', 'react-'));
  await build({
    entryPoints: ['test/client/kit/react-page.ts'], bundle: true, platform: 'browser', format: 'esm', outfile: join(dir, 'page.js'),
    define: { 'process.env.NODE_ENV': '"development"' }, logLevel: 'error',
  });
  await writeFile(join(dir, 'index.html'), '<!doctype html><title>react</title><div id="root"></div><script type="module" src="/page.js"></script>');
});
afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('client react binding (Chromium)', () => {
  it('react - useCollection, useRecord and usePendingWrites re-render on their changes only', async () => {
    await using server = await serveDirectory(dir);
    await using chrome = await launchChromium();
    const page = await chrome.browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${server.url}/index.html`);
    const text = (sel: string) => page.locator(sel).textContent();
    const items = () => page.locator('#notes li').allTextContents();
    await expect.poll(() => text('#note-a')).toBe('none');
    expect(await text('#pending')).toBe('0');

    await page.evaluate(`void sm.client.put('notes', 'a', { title: 'Alpha' })`);
    await expect.poll(items).toEqual(['Alpha']);
    await expect.poll(() => text('#note-a')).toBe('Alpha (pending)');
    expect(await text('#pending')).toBe('1');
    const rendersOfA = (await page.evaluate('sm.renders.recordA')) as number;

    // Another key: the list re-renders, the record component does not.
    await page.evaluate(`void sm.client.put('notes', 'b', { title: 'Beta' })`);
    await expect.poll(items).toEqual(['Alpha', 'Beta']);
    expect(await text('#pending')).toBe('2');
    expect(await page.evaluate('sm.renders.recordA')).toBe(rendersOfA);

    // Another collection: neither list nor record change.
    await page.evaluate(`void sm.client.put('todos', 'a', { title: 'Elsewhere' })`);
    await expect.poll(() => text('#pending')).toBe('3');
    expect(await items()).toEqual(['Alpha', 'Beta']);
    expect(await page.evaluate('sm.renders.recordA')).toBe(rendersOfA);

    await page.evaluate(`void sm.client.delete('notes', 'a')`);
    await expect.poll(items).toEqual(['Beta']);
    await expect.poll(() => text('#note-a')).toBe('none');
    await page.evaluate('sm.unmount()');
    expect(errors).toEqual([]);
  });
});
