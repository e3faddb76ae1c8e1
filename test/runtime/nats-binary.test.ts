import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { NatsServerError, natsServerBinary, TOOLS_NATS_SERVER } from '../../runtime/mod.js';

/** Runs `fn` with NATS_SERVER_BIN set to `value` (unset when undefined) and `pathDir` first on PATH, then restores both. */
function withBinEnv<T>(value: string | undefined, pathDir: string, fn: () => T): T {
  const saved = { bin: process.env['NATS_SERVER_BIN'], path: process.env['PATH'] };
  try {
    if (value === undefined) delete process.env['NATS_SERVER_BIN'];
    else process.env['NATS_SERVER_BIN'] = value;
    process.env['PATH'] = `${pathDir}:${saved.path ?? ''}`;
    return fn();
  } finally {
    if (saved.bin === undefined) delete process.env['NATS_SERVER_BIN'];
    else process.env['NATS_SERVER_BIN'] = saved.bin;
    process.env['PATH'] = saved.path;
  }
}

/** A stand-in nats-server at `file`: the launcher only asks it for --version here. */
async function fakeServer(file: string): Promise<string> {
  await mkdir(dirname(file), { recursive: true });
  await writeFile(file, '#!/bin/sh\necho "nats-server: v9.9.9"\n');
  await chmod(file, 0o755);
  return file;
}

describe('runtime - which nats-server the launcher runs', () => {
  it('runtime - NATS_SERVER_BIN first, then the package\'s .tools/nats-server/ (found from a folder below it), then PATH; a missing one says how to install it', async () => {
    const root = await mkdtemp(join(tmpdir(), 'syncmesh-natsbin-'));
    try {
      const deep = join(root, 'dist', 'runtime');
      await mkdir(deep, { recursive: true });
      const pathDir = dirname(await fakeServer(join(root, 'bin', 'nats-server')));
      // Without a .tools binary: the one on PATH.
      expect(withBinEnv(undefined, pathDir, () => natsServerBinary(deep))).toBe('nats-server');
      // With one (as setup fetches it), from the package's root or a folder below it.
      const tools = await fakeServer(join(root, TOOLS_NATS_SERVER));
      expect(withBinEnv(undefined, pathDir, () => natsServerBinary(deep))).toBe(tools);
      expect(withBinEnv(undefined, pathDir, () => natsServerBinary(root))).toBe(tools);
      // NATS_SERVER_BIN wins over both.
      const chosen = await fakeServer(join(root, 'chosen', 'nats-server'));
      expect(withBinEnv(chosen, pathDir, () => natsServerBinary(deep))).toBe(chosen);
      const missing = (() => {
        try {
          return withBinEnv(join(root, 'no-such-nats-server'), pathDir, () => natsServerBinary(deep));
        } catch (err) {
          return err;
        }
      })();
      expect(missing).toBeInstanceOf(NatsServerError);
      expect((missing as Error).message).toMatch(/npm run setup/);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});
