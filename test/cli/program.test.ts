/**
 * The `syncmesh` program as a user runs it: the package's bin executed directly (shebang, executable
 * bit), its help, its refusals, and settings taken from flags and from SYNCMESH_* variables.
 */
import { readFileSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CLUSTER_OPTIONS } from '../../gateway/cli/cluster-options.js';
import { NODE_OPTIONS } from '../../gateway/cli/node-options.js';
import { envName } from '../../gateway/cli/options.js';
import { natsServer } from '../kit/nats.js';
import { metricValue, runSyncmesh, SYNCMESH_JS, syncmeshNode } from '../kit/syncmesh.js';
import { waitFor } from '../kit/wait.js';

const SECRETS = { SYNCMESH_TICKET_SECRET: 'test-ticket-secret-0123456789', SYNCMESH_JWT_SECRET: 'test-jwt-secret-0123456789-abcdefghij' };

// Each test spawns the program; on a loaded machine a process may take seconds just to start.
describe('program - the syncmesh bin', { timeout: 120_000 }, () => {
  it('program - package.json "bin" names syncmesh: a built, executable file with a shebang; npm start runs its cluster command', () => {
    const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as { bin: Record<string, string>; scripts: Record<string, string> };
    expect(resolve(pkg.bin['syncmesh']!)).toBe(SYNCMESH_JS);
    expect(readFileSync(SYNCMESH_JS, 'utf8').startsWith('#!/usr/bin/env node\n')).toBe(true);
    expect(statSync(SYNCMESH_JS).mode & 0o111, 'executable bit').not.toBe(0);
    expect(pkg.scripts['start']).toMatch(/dist\/gateway\/cli\/syncmesh\.js cluster$/);
  });

  it('program - --help of the program and of each command: every setting of its table, with its environment variable', async () => {
    const [top, version, ...helps] = await Promise.all([
      runSyncmesh(['--help']),
      runSyncmesh(['--version']),
      ...(['node', 'cluster'] as const).flatMap((command) => [[command, '--help'], ['help', command]].map(async (args) => ({ command, args, r: await runSyncmesh(args) }))),
    ]);
    expect(top!.status).toBe(0);
    expect(top!.stdout).toMatch(/^ {2}cluster +run a complete local cluster/m);
    expect(top!.stdout).toMatch(/^ {2}node +run one node/m);
    expect(version!.stdout).toMatch(/^syncmesh \d+\.\d+\.\d+/);
    for (const h of helps) {
      const { command, args, r } = h as { command: 'node' | 'cluster'; args: string[]; r: Awaited<ReturnType<typeof runSyncmesh>> };
      const table = command === 'node' ? NODE_OPTIONS : CLUSTER_OPTIONS;
      {
        expect(r.status, `${args.join(' ')}: ${r.stderr}`).toBe(0);
        expect(r.stdout).toContain(`usage: syncmesh ${command}`);
        for (const [name, def] of Object.entries(table)) {
          expect(r.stdout, `--${name} in ${command} --help`).toMatch(new RegExp(`^ {2}--${name}\\b`, 'm'));
          expect(r.stdout).toContain(def.help);
          if (!('flagOnly' in def)) expect(r.stdout).toContain(`env ${envName(name)}`);
        }
      }
    }
  });

  it('program - docs/operations.md lists every setting of both commands with its environment variable', () => {
    const doc = readFileSync('docs/operations.md', 'utf8');
    for (const table of [NODE_OPTIONS, CLUSTER_OPTIONS]) {
      for (const [name, def] of Object.entries(table)) {
        expect(doc, `--${name} in docs/operations.md`).toMatch(new RegExp(`\\| \`--${name}[ \`]`));
        if (!('flagOnly' in def)) expect(doc, `${envName(name)} in docs/operations.md`).toContain(`\`${envName(name)}`);
      }
    }
  });

  it('program - bad usage is refused with a message naming the problem, and exit code 2', async () => {
    // Each kind of refusal once through the real program; every rule is covered in-process in options.test.ts.
    const cases: { args: string[]; env?: Record<string, string>; says: RegExp }[] = [
      { args: [], says: /usage: syncmesh COMMAND/ },
      { args: ['frobnicate'], says: /unknown command "frobnicate"; commands: cluster, node/ },
      { args: ['node', '--bogus'], says: /unknown flag --bogus; known flags: --roles/ },
      { args: ['node', '--roles', 'socket,printer'], says: /--roles: unknown value "printer"; accepted: gateway, storage, push, socket/ },
      { args: ['node'], says: /--roles is required \(or SYNCMESH_ROLES\)/ },
      { args: ['node', '--roles', 'gateway'], env: { SYNCMESH_HTTP_PORT: 'eighty' }, says: /SYNCMESH_HTTP_PORT \(environment\) must be a whole number/ },
      { args: ['node', '--roles', 'socket'], says: /no --ticket-secret \(or SYNCMESH_TICKET_SECRET\)/ },
      { args: ['cluster', '--socket-nodes', '0'], says: /--socket-nodes must be a whole number from 1 to 64; got "0"/ },
    ];
    const results = await Promise.all(cases.map((c) => runSyncmesh(c.args, c.env)));
    for (const [i, c] of cases.entries()) {
      const r = results[i]!;
      const what = `syncmesh ${c.args.join(' ')} ${JSON.stringify(c.env ?? {})}: stderr ${r.stderr}`;
      expect(r.status, what).toBe(2);
      expect(r.stderr, what).toMatch(c.says);
      if (c.args.length > 0) expect(r.stderr, what).toMatch(/Run `syncmesh (node |cluster )?--help` for the (flags|commands)\./);
    }
  });

  it('program - settings come from SYNCMESH_* variables; a flag wins over its variable; a start failure exits 1', async () => {
    await using ns = await natsServer();
    const env = { SYNCMESH_NATS: ns.url, SYNCMESH_ROLES: 'storage,push', SYNCMESH_NODE_ID: 'from-env', SYNCMESH_METRICS_PORT: '0' };
    {
      await using node = await syncmeshNode([], { env });
      expect(node.info.node).toBe('from-env');
      expect(node.info.roles).toEqual(['storage', 'push']);
      expect(node.info.metrics).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
      const text = await (await fetch(node.info.metrics!)).text();
      expect(text).toContain('syncmesh_up{node="from-env"} 1');
    }
    {
      await using node = await syncmeshNode(['--node-id', 'from-flag', '--no-dev'], { env: { ...env, SYNCMESH_METRICS_PORT: '' } });
      expect(node.info.node).toBe('from-flag');
      expect(node.info.metrics, 'an empty variable is unset').toBeUndefined();
    }
    const unreachable = await runSyncmesh(['node', '--roles', 'push', '--nats', 'nats://127.0.0.1:1']);
    expect(unreachable.status).toBe(1);
    expect(unreachable.stderr).toMatch(/cannot reach NATS at nats:\/\/127\.0\.0\.1:1: .*start nats-server or pass --nats/);
  });

  it('health - /readyz follows NATS: 503 naming nats while the server is down, 200 again after; the reconnect is counted', async () => {
    await using ns = await natsServer();
    await using node = await syncmeshNode(['--roles', 'storage,push', '--nats', ns.url, '--metrics-port', '0']);
    type Answer = { status: number; body: { status: string; checks: Record<string, string>; problems?: string[] } };
    const readyz = async (): Promise<Answer> => {
      const res = await fetch(node.info.readyz!);
      return { status: res.status, body: (await res.json()) as Answer['body'] };
    };
    expect(await readyz()).toMatchObject({ status: 200, body: { status: 'ready', checks: { nats: 'ok', jetstream: 'ok', draining: 'ok' } } });
    expect((await fetch(node.info.healthz!)).status).toBe(200);

    await ns.stop();
    const down = await waitFor('/readyz to answer 503 while NATS is down', async () => {
      const r = await readyz();
      return r.status === 503 ? r : undefined;
    });
    expect(down.body.status).toBe('not_ready');
    expect(down.body.checks['nats']).toMatch(/disconnected from NATS|closed/);
    expect(down.body.problems?.some((p) => p.startsWith('nats: '))).toBe(true);
    expect((await fetch(node.info.healthz!)).status, 'alive all along').toBe(200);

    await ns.restart();
    await waitFor('/readyz back to 200 after NATS returned', async () => ((await readyz()).status === 200 ? true : undefined), 30_000);
    const text = await (await fetch(node.info.metrics!)).text();
    expect(metricValue(text, 'syncmesh_nats_reconnects_total')).toBeGreaterThanOrEqual(1);
    expect(metricValue(text, 'syncmesh_nats_disconnects_total')).toBeGreaterThanOrEqual(1);
    expect(metricValue(text, 'syncmesh_nats_connected')).toBe(1);
  });
});
