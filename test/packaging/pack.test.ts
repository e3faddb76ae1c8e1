/**
 * The package as people install it: `npm pack`, the tarball installed into a scratch project under
 * .tmp (from the npm cache when it has everything, else the registry), a TypeScript program typechecked
 * against `syncmesh/client`, `syncmesh/client/react` and `syncmesh/runtime` with the declarations the
 * build wrote, the Quick start of docs/client.md run as written (two clients syncing through a local
 * cluster started from the installed package), and the example of docs/runtime.md run as written.
 * Needs a build (`npm test` builds first).
 */
import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { localCluster } from '../kit/cluster.js';
import { natsServer } from '../kit/nats.js';

const run = promisify(execFile);
const repo = resolve('.');
const TSC = join(repo, 'node_modules', '.bin', 'tsc');
let scratch: string;

/** The version of a package the repository has installed: its tarball is in the npm cache. */
async function installedVersion(name: string): Promise<string> {
  return (JSON.parse(await readFile(join(repo, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version;
}

/** Runs `node file` in the scratch project; resolves with stdout, rejects with stderr on failure or after `timeoutMs`. */
function node(file: string, env: Record<string, string>, timeoutMs: number): Promise<string> {
  return new Promise((resolveRun, reject) => {
    const child = spawn(process.execPath, [file], { cwd: scratch, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolveRun(out);
      else reject(new Error(`node ${file} exited with ${code ?? signal}${signal === 'SIGKILL' ? ` (no exit within ${timeoutMs} ms)` : ''}\nstdout:\n${out}\nstderr:\n${err}`));
    });
  });
}

/** Code blocks of a markdown file whose first line is `// <file name>`, by file name. */
function namedBlocks(markdown: string): Map<string, string> {
  const blocks = new Map<string, string>();
  for (const m of markdown.matchAll(/```(?:js|ts)\n\/\/ ([\w.-]+)\n([\s\S]*?)```/g)) blocks.set(m[1]!, m[2]!);
  return blocks;
}

beforeAll(async () => {
  if (!existsSync(join(repo, 'dist', 'client', 'mod.d.ts')) || !existsSync(join(repo, 'dist', 'web', 'syncmesh-client.js'))) {
    throw new Error('dist/ lacks the declarations or the browser bundle: run `npm run build` first (npm test does)');
  }
  await mkdir(join(repo, '.tmp'), { recursive: true });
  scratch = await mkdtemp(join(repo, '.tmp', 'pack-'));
  await run('npm', ['pack', '--silent', '--pack-destination', scratch], { cwd: repo });
  const tarball = (await readdir(scratch)).find((f) => f.endsWith('.tgz'));
  if (!tarball) throw new Error('npm pack wrote no tarball');
  await writeFile(join(scratch, 'package.json'), JSON.stringify({ name: 'scratch', private: true, type: 'module' }, null, 2));
  const deps = await Promise.all(['ws', 'jose', 'xstate', 'react', '@types/node', '@types/react'].map(async (n) => `${n}@${await installedVersion(n)}`));
  const install = (mode: string) => run('npm', ['install', mode, '--no-audit', '--no-fund', '--loglevel=error', `./${tarball}`, ...deps], { cwd: scratch, timeout: 120_000 });
  // Offline when the cache has every package document; a cache filled from a lock file may not: then the registry.
  await install('--offline').catch(() => install('--prefer-offline'));
}, 180_000);

afterAll(async () => {
  if (scratch) await rm(scratch, { recursive: true, force: true });
});

describe('packaging (npm pack, installed into a scratch project)', () => {
  it('packaging - the tarball ships built JS, declarations, the browser bundle and the license, not tests or sources', async () => {
    const { stdout } = await run('tar', ['-tzf', join(scratch, (await readdir(scratch)).find((f) => f.endsWith('.tgz'))!)]);
    const files = stdout.split('\n').filter(Boolean).map((f) => f.replace(/^package\//, ''));
    for (const f of ['LICENSE', 'package.json', 'dist/client/mod.js', 'dist/client/mod.d.ts', 'dist/client/react/mod.js', 'dist/client/react/mod.d.ts',
      'dist/runtime/mod.js', 'dist/runtime/mod.d.ts', 'dist/protocol/mod.d.ts', 'dist/web/syncmesh-client.js', 'dist/web/syncmesh-client.d.ts',
      'dist/gateway/cli/cluster.js', 'nats-server.conf']) {
      expect(files, f).toContain(f);
    }
    expect(files.filter((f) => f.startsWith('dist/test/') || f.startsWith('dist/bench/') || f.endsWith('.map'))).toEqual([]);
    expect(files.filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))).toEqual([]);
    const pkg = JSON.parse(await readFile(join(scratch, 'node_modules', 'syncmesh', 'package.json'), 'utf8')) as { license?: string; private?: boolean };
    expect(pkg.license).toBe('MIT');
    expect(pkg.private).toBeUndefined();
    expect(await readFile(join(scratch, 'node_modules', 'syncmesh', 'LICENSE'), 'utf8')).toContain('Copyright (c) 2026 the Syncmesh authors');
  });

  it('packaging - a TypeScript program typechecks against syncmesh/client, syncmesh/client/react and syncmesh/runtime; a wrong use is an error', async () => {
    await writeFile(join(scratch, 'tsconfig.json'), JSON.stringify({
      compilerOptions: { target: 'es2022', module: 'nodenext', moduleResolution: 'nodenext', strict: true, lib: ['es2023', 'dom'], types: ['node'], noEmit: true, skipLibCheck: false },
      include: ['check.ts'],
    }));
    await writeFile(join(scratch, 'check.ts'), `
import WebSocket from 'ws';
import { createSyncClient, indexedDbCache, memoryCache, ServerError, type ChangeEvent, type SyncClient, type CommitResult } from 'syncmesh/client';
import { useCollection, useRecord, type CollectionSnapshot } from 'syncmesh/client/react';
import { createSyncClient as fromBundle } from 'syncmesh/client/web';
import { defineActor, startNode, type ActorNode, type ActorRef } from 'syncmesh/runtime';
import { ErrorCode, type ServerFrame } from 'syncmesh/protocol';

const client: SyncClient = createSyncClient({ distributorUrl: 'http://x', userId: 'u', deviceId: 'd', token: 't', WebSocket, cache: memoryCache() });
const off: () => void = client.onKey('notes', 'k', (e: ChangeEvent) => void e.pending);
const done: Promise<CommitResult> = client.put('notes', 'k', { a: 1 }, { ifRev: true });
const n: number = client.pendingWrites;
const hooks: [typeof useCollection, typeof useRecord] = [useCollection, useRecord];
const snap: CollectionSnapshot = [];
const same: typeof createSyncClient = fromBundle;
const node: Promise<ActorNode> = startNode({ nats: 'nats://127.0.0.1:4222', nodeId: 'n1', kinds: [] });
const ref: ActorRef = { kind: 'k', id: 'i' };
const code: string = ErrorCode.quotaExceeded;
const frame: ServerFrame['t'] = 'resync';
void [off, done, n, hooks, snap, same, node, ref, code, frame, indexedDbCache, ServerError, defineActor];
// The declarations are real types, not \`any\`: a wrong call is an error (else this directive is, TS2578).
// @ts-expect-error distributorUrl must be a string
createSyncClient({ distributorUrl: 1, userId: 'u', deviceId: 'd', token: 't' });
`);
    const result = await run(TSC, ['-p', join(scratch, 'tsconfig.json')], { cwd: scratch }).then(() => 'ok', (e: { stdout: string }) => e.stdout);
    expect(result).toBe('ok');
  });

  it('packaging - the Quick start of docs/client.md, as written: two clients sync through a cluster started from the installed package', async () => {
    const blocks = namedBlocks(await readFile(join(repo, 'docs', 'client.md'), 'utf8'));
    for (const name of ['token.mjs', 'two-devices.mjs']) {
      const code = blocks.get(name);
      if (!code) throw new Error(`docs/client.md has no block starting with // ${name}`);
      await writeFile(join(scratch, name), code);
    }
    await using cluster = await localCluster({ socketNodes: 2, timeoutMs: 90_000, program: join(scratch, 'node_modules', 'syncmesh', 'dist', 'gateway', 'cli', 'cluster.js') });
    const out = await node('two-devices.mjs', { SYNCMESH_URL: cluster.url, SYNCMESH_DATA: cluster.dataDir }, 60_000);
    expect(out).toContain("phone sees: { text: 'written on the laptop' }");
  });

  it('packaging - the example of docs/runtime.md runs as written from the installed package', async () => {
    const doc = await readFile(join(repo, 'docs', 'runtime.md'), 'utf8');
    const example = /runs as written from the installed package[\s\S]*?```ts\n([\s\S]*?)```/.exec(doc)?.[1];
    if (!example) throw new Error('docs/runtime.md has no ```ts block after "runs as written from the installed package"');
    await mkdir(join(scratch, 'runtime-example'), { recursive: true });
    await writeFile(join(scratch, 'runtime-example', 'example.ts'), example);
    await writeFile(join(scratch, 'runtime-example', 'tsconfig.json'), JSON.stringify({
      compilerOptions: { target: 'es2022', module: 'nodenext', moduleResolution: 'nodenext', strict: true, types: ['node'], rootDir: '.', outDir: 'out', skipLibCheck: true },
      include: ['example.ts'],
    }));
    // Typechecked and compiled as written; Node 20 runs the JavaScript.
    await run(TSC, ['-p', join(scratch, 'runtime-example', 'tsconfig.json')], { cwd: scratch });
    await using nats = await natsServer();
    const out = await node(join('runtime-example', 'out', 'example.js'), { NATS_URL: nats.url }, 60_000);
    expect(out.split('\n')).toEqual(expect.arrayContaining(['hello from w1', '1']));
  });
});
