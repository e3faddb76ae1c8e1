import { describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { connect, type Socket } from 'node:net';
import { createInterface } from 'node:readline';
import { listenOverflows } from '../../bench/load/listen-overflows.js';

const linux = process.platform === 'linux';

describe('listenOverflows (the kernel count P7 reports)', () => {
  it.runIf(linux)('counts handshakes dropped on a full accept queue', async () => {
    // A listener with a backlog of 2 in a process that is then paused: it accepts nothing.
    const child = spawn(process.execPath, ['-e', "require('net').createServer().listen({ port: 0, host: '127.0.0.1', backlog: 2 }, function () { console.log(this.address().port) })"], { stdio: ['ignore', 'pipe', 'inherit'] });
    const sockets: Socket[] = [];
    try {
      const port = Number(await new Promise<string>((resolve) => createInterface({ input: child.stdout! }).once('line', resolve)));
      child.kill('SIGSTOP');
      const before = await listenOverflows();
      expect(before).toBeGreaterThanOrEqual(0);
      for (let i = 0; i < 20; i++) {
        const s = connect({ port, host: '127.0.0.1' });
        s.on('error', () => undefined);
        sockets.push(s);
      }
      const deadline = Date.now() + 10_000;
      let after = before!;
      while (after === before && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 50));
        after = (await listenOverflows())!;
      }
      expect(after).toBeGreaterThan(before!);
    } finally {
      for (const s of sockets) s.destroy();
      child.kill('SIGKILL');
    }
  });
});
