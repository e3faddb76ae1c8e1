/**
 * Runs once before the suite: creates `.tmp/`, where tests keep scratch files (bundles for Chromium,
 * screenshots), so `npm test` works on a fresh clone with no step of its own.
 */
import { mkdir } from 'node:fs/promises';

export default async function setup(): Promise<void> {
  await mkdir('.tmp', { recursive: true });
}
