/**
 * The settings layer of the `syncmesh` program in-process: parsing flags and SYNCMESH_* variables
 * against the tables, and the cross-setting checks of `syncmesh node`. (program.test.ts runs the
 * real program for each kind of refusal; this covers every rule quickly.)
 */
import { describe, expect, it } from 'vitest';
import { CLUSTER_OPTIONS } from '../../gateway/cli/cluster-options.js';
import { UsageError } from '../../gateway/cli/errors.js';
import { rolesConfig } from '../../gateway/cli/node.js';
import { NODE_OPTIONS } from '../../gateway/cli/node-options.js';
import { envName, optionsHelp, parseOptions } from '../../gateway/cli/options.js';

const SECRETS = { SYNCMESH_TICKET_SECRET: 'test-ticket-secret-0123456789', SYNCMESH_JWT_SECRET: 'test-jwt-secret-0123456789-abcdefghij' };
const parseNode = (argv: string[], env: NodeJS.ProcessEnv = {}) => parseOptions(NODE_OPTIONS, argv, env);

describe('options - flags and environment', () => {
  it('options - defaults, flags (both spellings), variables; a flag wins over its variable; an empty variable is unset', () => {
    const d = parseNode(['--roles', 'socket']);
    expect(d).toMatchObject({ roles: ['socket'], nats: ['nats://127.0.0.1:4222'], prefix: 'sm', replicas: undefined, 'http-port': 8080, dev: false, 'log-level': 'info' });
    expect(d['node-id']).toBeUndefined();
    expect(parseNode(['--roles=gateway,socket', '--http-port=0', '--dev']).roles).toEqual(['gateway', 'socket']);
    const env = { SYNCMESH_ROLES: 'storage', SYNCMESH_NATS: 'nats://a:1, nats://b:2', SYNCMESH_REPLICAS: '3', SYNCMESH_DEV: 'yes', SYNCMESH_NODE_ID: 'env', SYNCMESH_METRICS_PORT: '' };
    expect(parseNode([], env)).toMatchObject({ roles: ['storage'], nats: ['nats://a:1', 'nats://b:2'], replicas: 3, dev: true, 'node-id': 'env' });
    expect(parseNode([], env)['metrics-port']).toBeUndefined();
    expect(parseNode(['--node-id', 'flag', '--no-dev'], env)).toMatchObject({ 'node-id': 'flag', dev: false });
    expect(parseOptions(CLUSTER_OPTIONS, ['--no-dev'], { SYNCMESH_DEV: 'on' }).dev).toBe(false);
    // --help is never read from the environment.
    expect(parseNode(['--roles', 'push'], { SYNCMESH_HELP: '1' }).help).toBe(false);
  });

  it('options - every bad flag or value is a UsageError naming it and what is accepted', () => {
    const bad: [string[], NodeJS.ProcessEnv, RegExp][] = [
      [['--roles', 'socket', '--bogus'], {}, /unknown flag --bogus; known flags: --roles, --nats/],
      [['--roles', 'socket', 'extra'], {}, /unexpected argument "extra"/],
      [['--roles', 'socket', '--socket-port'], {}, /--socket-port needs a value \(WebSocket port/],
      [['--roles', 'socket', '--dev=yes'], {}, /--dev is a switch and takes no value: write --dev or --no-dev/],
      [['--roles', 'socket', '--http-port', '70000'], {}, /--http-port must be a whole number from 0 to 65535; got "70000"/],
      [['--roles', 'socket', '--replicas', '2.5'], {}, /--replicas must be a whole number from 1 to 5; got "2.5"/],
      [['--roles', 'socket', '--log-level', 'loud'], {}, /--log-level must be one of fatal, error, warn, info, debug, trace, silent; got "loud"/],
      [['--roles', 'socket', '--prefix='], {}, /--prefix is empty/],
      [['--roles', 'socket,printer'], {}, /--roles: unknown value "printer"; accepted: gateway, storage, push, socket/],
      [[], {}, /--roles is required \(or SYNCMESH_ROLES\): roles of this node/],
      [['--roles', 'socket'], { SYNCMESH_DEV: 'maybe' }, /SYNCMESH_DEV \(environment\) must be true or false/],
      [['--roles', 'socket'], { SYNCMESH_SOCKET_PORT: '-1' }, /SYNCMESH_SOCKET_PORT \(environment\) must be a whole number from 0 to 65535; got "-1"/],
    ];
    for (const [argv, env, says] of bad) {
      const what = `${argv.join(' ')} ${JSON.stringify(env)}`;
      expect(() => parseNode(argv, env), what).toThrow(UsageError);
      expect(() => parseNode(argv, env), what).toThrow(says);
    }
  });

  it('options - node settings checked together: secrets per role, TLS files in pairs, a ws(s) public URL without query', () => {
    const config = (argv: string[], env: NodeJS.ProcessEnv = SECRETS) => rolesConfig(parseNode(argv, env));
    expect(() => config(['--roles', 'socket'], {})).toThrow(/no --ticket-secret \(or SYNCMESH_TICKET_SECRET\): give a secret of at least 16 characters/);
    expect(() => config(['--roles', 'gateway'], { SYNCMESH_TICKET_SECRET: SECRETS.SYNCMESH_TICKET_SECRET, SYNCMESH_JWT_SECRET: 'short' })).toThrow(/--jwt-secret \(or SYNCMESH_JWT_SECRET\) is shorter than 16 characters/);
    expect(config(['--roles', 'storage,push'], {})).toMatchObject({ security: { ticketSecret: '', jwt: {} } });
    expect(() => config(['--roles', 'socket', '--tls-cert', 'c.pem'])).toThrow(/--tls-cert and --tls-key go together/);
    expect(() => config(['--roles', 'socket', '--public-url', 'https://x/ws'])).toThrow(/--public-url must start with ws:\/\/ or wss:\/\//);
    expect(() => config(['--roles', 'socket', '--public-url', 'wss://x/ws?a=1'])).toThrow(/--public-url must have no query or fragment/);
    expect(() => config(['--roles', 'socket', '--public-url', 'not a url'])).toThrow(/is not a URL; write it like wss:\/\/ws1\.example\.com\/ws/);
    const c = config(['--roles', 'socket,gateway', '--public-url', 'wss://ws1.example.com/ws', '--tls-cert', 'c.pem', '--tls-key', 'k.pem', '--metrics-port', '0']);
    expect(c.socket).toMatchObject({ publicUrl: 'wss://ws1.example.com/ws', tls: { certFile: 'c.pem', keyFile: 'k.pem' } });
    expect(c.gateway.tls).toEqual({ certFile: 'c.pem', keyFile: 'k.pem' });
    expect(c.metrics).toEqual({ host: '127.0.0.1', port: 0 });
    // The storm settings reach the socket server's options (defaults, then a flag and a variable).
    expect(config(['--roles', 'socket']).socket).toMatchObject({ maxStartingSessions: 8192, fallbackDeferStarting: 128, fallbackTicketTtlMs: 3_600_000 });
    expect(config(['--roles', 'socket', '--fallback-defer-starting', '0'], { ...SECRETS, SYNCMESH_MAX_STARTING_SESSIONS: '500' }).socket).toMatchObject({ maxStartingSessions: 500, fallbackDeferStarting: 0 });
    expect(() => config(['--roles', 'socket', '--fallback-defer-starting', '-1'])).toThrow(/fallback-defer-starting/);
    expect(config(['--roles', 'socket']).socket).toMatchObject({ stormRate: 2000 });
    expect(config(['--roles', 'socket', '--storm-rate', '0']).socket).toMatchObject({ stormRate: 0 });
    expect(config(['--roles', 'socket'], { ...SECRETS, SYNCMESH_STORM_RATE: '750' }).socket).toMatchObject({ stormRate: 750 });
    expect(() => config(['--roles', 'socket', '--storm-rate', 'fast'])).toThrow(/storm-rate/);
  });

  it('options - the help shows each setting once, with its variable and default, under its group', () => {
    const help = optionsHelp(NODE_OPTIONS);
    for (const name of Object.keys(NODE_OPTIONS)) expect(help.match(new RegExp(`^ {2}--${name}(?![\\w-])`, 'gm')), name).toHaveLength(1);
    expect(help).toContain(`--http-port N    (env ${envName('http-port')}; default 8080)`);
    expect(help).toContain('--roles ROLES    (env SYNCMESH_ROLES; required)');
    expect(help).toMatch(/^socket:\n {2}--socket-host ADDR/m);
    expect(optionsHelp(CLUSTER_OPTIONS)).toContain('--dev / --no-dev    (env SYNCMESH_DEV; default on)');
  });
});
