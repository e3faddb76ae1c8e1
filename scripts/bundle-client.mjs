#!/usr/bin/env node
/**
 * Bundles the browser client for the web (run by `npm run build`, after tsc):
 *   client/mod.ts       -> dist/web/syncmesh-client.js  (ESM library: import { createSyncClient } from '/syncmesh-client.js'),
 *                          dist/web/syncmesh-client.d.ts (its types: the declarations tsc wrote for client/, so
 *                          `syncmesh/client/web` is typed; run after `tsc -p tsconfig.build.json`)
 *   client/demo/demo.ts -> dist/web/demo.js             (the demo page's script)
 *   client/demo/index.html, demo.css -> dist/web/
 * React is not in the bundle: the binding is its own entry point (syncmesh/client/react).
 * The distributor serves dist/web at `/` (the bundle with CORS headers, so other origins can load it). Bundled for browsers: msgpackr resolves to its browser build,
 * and any node: import fails the build here rather than in a user's browser.
 */
import { build } from 'esbuild';
import { copyFile, mkdir, stat, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, 'dist', 'web');

const common = {
  bundle: true,
  platform: 'browser',
  format: 'esm',
  target: ['es2022'],
  sourcemap: true,
  legalComments: 'linked',
  logLevel: 'warning',
  absWorkingDir: root,
};

await mkdir(out, { recursive: true });
await Promise.all([
  build({ ...common, entryPoints: ['client/mod.ts'], outfile: join(out, 'syncmesh-client.js'), minify: true }),
  build({ ...common, entryPoints: ['client/demo/demo.ts'], outfile: join(out, 'demo.js'), minify: true }),
  ...['index.html', 'demo.css'].map((name) => copyFile(join(root, 'client', 'demo', name), join(out, name))),
  // The bundle exports exactly what client/mod.ts exports, so its types are client/mod's.
  writeFile(join(out, 'syncmesh-client.d.ts'), "// Types of syncmesh-client.js (the bundled client/mod.ts).\nexport * from '../client/mod.js';\n"),
]);

const sizes = await Promise.all(['syncmesh-client.js', 'demo.js'].map(async (f) => `${f} ${((await stat(join(out, f))).size / 1024).toFixed(1)} KB`));
process.stderr.write(`[bundle-client] dist/web: ${sizes.join(', ')}\n`);
