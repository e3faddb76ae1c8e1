/**
 * The demo page in headless Chromium against the real local cluster: two device panels of one user,
 * each its own client and WebSocket. Leaves a screenshot in .tmp/demo.png.
 */
import { randomUUID } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { launchChromium, type BrowserHandle } from '../client/kit/browser.js';
import { localCluster, type LocalCluster } from '../kit/cluster.js';

let cluster: LocalCluster;
let chrome: BrowserHandle;
beforeAll(async () => {
  [cluster, chrome] = await Promise.all([localCluster({ socketNodes: 2, timeoutMs: 90_000 }), launchChromium()]);
}, 120_000);
afterAll(async () => {
  await chrome?.[Symbol.asyncDispose]();
  await cluster?.[Symbol.asyncDispose]();
}, 60_000);

const TIMEOUT = 20_000;
const byId = (page: Page, id: string) => page.getByTestId(id);

describe('demo page (Chromium)', () => {
  it('demo - a bookmark added on the laptop shows on the phone, edits and deletes follow, a tab is sent', async () => {
    const page = await chrome.browser.newPage({ viewport: { width: 1280, height: 900 } });
    const errors: string[] = [];
    page.on('pageerror', (err) => errors.push(err.message));
    const user = `demo-${randomUUID().slice(0, 8)}`;
    await page.goto(`${cluster.url}/?user=${user}`);

    for (const d of ['laptop', 'phone']) {
      await expect.poll(() => byId(page, `status-${d}`).textContent(), { timeout: TIMEOUT }).toBe('connected');
      await expect.poll(() => byId(page, `connection-${d}`).textContent()).toMatch(/^[0-9a-f]{20}-[0-9a-f]{12}$/);
      await expect.poll(() => byId(page, `node-${d}`).textContent()).not.toBe('–');
    }
    expect(await byId(page, 'connection-laptop').textContent()).not.toBe(await byId(page, 'connection-phone').textContent());

    // Add on the laptop: it appears on the phone.
    await byId(page, 'add-title-laptop').fill('Syncmesh docs');
    await byId(page, 'add-url-laptop').fill('https://example.com/syncmesh');
    await byId(page, 'add-laptop').click();
    const phoneList = byId(page, 'bookmarks-phone');
    await expect.poll(() => phoneList.getByTestId('bookmark-title').allTextContents(), { timeout: TIMEOUT }).toEqual(['Syncmesh docs']);

    // Edit the title on the phone: the laptop follows.
    await phoneList.getByTestId('edit').click();
    await phoneList.getByTestId('edit-title').fill('Syncmesh docs (edited on the phone)');
    await phoneList.getByTestId('edit-title').press('Enter');
    const laptopList = byId(page, 'bookmarks-laptop');
    await expect.poll(() => laptopList.getByTestId('bookmark-title').allTextContents(), { timeout: TIMEOUT }).toEqual(['Syncmesh docs (edited on the phone)']);

    // A second bookmark, then delete it from the other side.
    await byId(page, 'add-title-phone').fill('Temporary');
    await byId(page, 'add-url-phone').fill('https://example.com/tmp');
    await byId(page, 'add-phone').click();
    await expect.poll(() => laptopList.getByTestId('bookmark').count(), { timeout: TIMEOUT }).toBe(2);
    await laptopList.getByTestId('bookmark').filter({ hasText: 'Temporary' }).getByTestId('delete').click();
    await expect.poll(() => phoneList.getByTestId('bookmark').count(), { timeout: TIMEOUT }).toBe(1);

    // Send a tab from the laptop: the phone shows it, the laptop sees it delivered.
    await byId(page, 'tab-url-laptop').fill('https://example.com/article-to-read');
    await byId(page, 'send-tab-laptop').click();
    await expect.poll(() => byId(page, 'tabs-phone').getByTestId('tab').allTextContents(), { timeout: TIMEOUT }).toEqual([
      expect.stringContaining('https://example.com/article-to-read'),
    ]);
    await expect.poll(() => byId(page, 'sent-laptop').getByTestId('sent-item').locator('.state').getAttribute('data-state'), { timeout: TIMEOUT }).toBe('delivered');

    await mkdir('.tmp', { recursive: true });
    await page.screenshot({ path: '.tmp/demo.png', fullPage: true });
    expect(errors).toEqual([]);
    await page.close();
  });
});
