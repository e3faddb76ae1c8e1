/**
 * Offline-first in Chromium, on the demo page against the real local cluster: two devices of one user
 * in two browser contexts (two browsers, as far as storage and network go). The laptop loses its
 * network, adds a bookmark, reloads the page, and comes back: the phone gets the bookmark.
 *
 * A page cannot reload with no network at all (the demo has no service worker), so the reload happens
 * with the page's files reachable and the sync service not (/v1/* aborted as a lost network would);
 * the network is then cut again and restored, as a laptop would find it.
 */
import { randomUUID } from 'node:crypto';
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

const TIMEOUT = 30_000;

/** Writes queued in the device's IndexedDB outbox (what survives a reload). */
function storedOutbox(page: Page, db: string): Promise<number> {
  return page.evaluate(`new Promise((resolve, reject) => {
    const req = indexedDB.open(${JSON.stringify(db)});
    req.onerror = () => reject(req.error);
    req.onsuccess = () => {
      const d = req.result;
      if (!d.objectStoreNames.contains('outbox')) { d.close(); resolve(0); return; }
      const count = d.transaction('outbox').objectStore('outbox').count();
      count.onsuccess = () => { d.close(); resolve(count.result); };
      count.onerror = () => reject(count.error);
    };
  })`) as Promise<number>;
}

describe('offline-first client (Chromium, demo page)', () => {
  it('offline - a device edits offline, reloads, comes back online, and the other device sees the edit', { timeout: 150_000 }, async () => {
    const user = `offline-${randomUUID().slice(0, 8)}`;
    const laptopContext = await chrome.browser.newContext();
    const phoneContext = await chrome.browser.newContext();
    const laptop = await laptopContext.newPage();
    const phone = await phoneContext.newPage();
    const errors: string[] = [];
    for (const p of [laptop, phone]) p.on('pageerror', (err) => errors.push(err.message));
    await laptop.goto(`${cluster.url}/?user=${user}&devices=laptop`);
    await phone.goto(`${cluster.url}/?user=${user}&devices=phone`);
    await expect.poll(() => laptop.getByTestId('status-laptop').textContent(), { timeout: TIMEOUT }).toBe('connected');
    await expect.poll(() => phone.getByTestId('status-phone').textContent(), { timeout: TIMEOUT }).toBe('connected');
    const phoneTitles = () => phone.getByTestId('bookmarks-phone').getByTestId('bookmark-title').allTextContents();
    const laptopRows = laptop.getByTestId('bookmarks-laptop').getByTestId('bookmark');

    // The laptop loses its network: its socket drops.
    await laptopContext.setOffline(true);
    await expect.poll(() => laptop.getByTestId('status-laptop').textContent(), { timeout: TIMEOUT }).not.toBe('connected');

    // Edits offline: shown at once, counted as waiting, kept in IndexedDB.
    await laptop.getByTestId('add-title-laptop').fill('Written offline');
    await laptop.getByTestId('add-url-laptop').fill('https://example.com/offline');
    await laptop.getByTestId('add-laptop').click();
    await expect.poll(() => laptopRows.getByTestId('bookmark-title').allTextContents()).toEqual(['Written offline']);
    expect(await laptopRows.first().getAttribute('data-pending')).toBe('yes');
    expect(await laptop.getByTestId('pending-laptop').textContent()).toBe('1');
    const db = `syncmesh-demo/${user}/laptop`;
    await expect.poll(() => storedOutbox(laptop, db), { timeout: TIMEOUT }).toBe(1);

    // Reload while the sync service stays out of reach.
    await laptop.route('**/v1/**', (route) => route.abort('internetdisconnected'));
    await laptopContext.setOffline(false);
    await laptop.reload();
    await laptopContext.setOffline(true);
    await laptop.unroute('**/v1/**');
    await expect.poll(() => laptopRows.getByTestId('bookmark-title').allTextContents(), { timeout: TIMEOUT }).toEqual(['Written offline']);
    expect(await laptopRows.first().getAttribute('data-pending')).toBe('yes');
    expect(await laptop.getByTestId('pending-laptop').textContent()).toBe('1');
    expect(await laptop.getByTestId('status-laptop').textContent()).not.toBe('connected');
    expect(await phoneTitles()).toEqual([]);

    // Back online: the queued write goes out and the phone gets it.
    await laptopContext.setOffline(false);
    await expect.poll(phoneTitles, { timeout: TIMEOUT }).toEqual(['Written offline']);
    await expect.poll(() => laptop.getByTestId('pending-laptop').textContent(), { timeout: TIMEOUT }).toBe('0');
    expect(await laptopRows.first().getAttribute('data-pending')).toBe('no');
    await expect.poll(() => storedOutbox(laptop, db), { timeout: TIMEOUT }).toBe(0);
    expect(errors).toEqual([]);
    await laptopContext.close();
    await phoneContext.close();
  });
});
