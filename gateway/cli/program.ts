/**
 * The `syncmesh` program: commands (`cluster`, `node`), their help, and exit codes.
 *
 *   0  done (or --help)
 *   1  could not start or failed while running (the message says why and what to do)
 *   2  bad usage: unknown command or flag, bad value, missing setting (the message names it)
 */
import { readFileSync, realpathSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { UsageError } from './errors.js';
import { optionsHelp, parseOptions, type OptionTable, type OptionValues } from './options.js';

/** One command of the program: its settings table and what it does with the parsed values. */
export interface Command<T extends OptionTable> {
  readonly name: string;
  /** One line, for `syncmesh --help`. */
  readonly summary: string;
  readonly synopsis: string;
  readonly description: string;
  readonly options: T & { readonly help: unknown };
  /** Runs with the parsed settings; resolves once started (a server keeps the process alive). */
  run(values: OptionValues<T>): Promise<void>;
}

// Commands are registered by the entry module (syncmesh.ts), so node.ts and cluster.ts stay importable alone.
const commands = new Map<string, Command<OptionTable>>();

export function registerCommand<T extends OptionTable>(command: Command<T>): void {
  commands.set(command.name, command as unknown as Command<OptionTable>);
}

/** The package version, from package.json beside dist/ (or beside the sources when run from them). */
function version(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  for (const root of [join(here, '..', '..', '..'), join(here, '..', '..')]) {
    try {
      return (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string }).version;
    } catch {
      // not the package root: try the next candidate
    }
  }
  return 'unknown';
}

/** `syncmesh --help`. */
export function programHelp(): string {
  const width = Math.max(...[...commands.keys()].map((n) => n.length));
  return [
    'usage: syncmesh COMMAND [flags]',
    '',
    'Syncmesh: real-time browser data sync on an actor runtime over NATS.',
    '',
    'commands:',
    ...[...commands.values()].map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    '`syncmesh COMMAND --help` lists the flags of a command (each also an environment variable SYNCMESH_*).',
    'Other flags: --help, --version. docs/operations.md describes every setting, health and metrics.',
  ].join('\n');
}

/** `syncmesh COMMAND --help`, generated from the command's table. */
export function commandHelp(command: Command<OptionTable>): string {
  return [`usage: ${command.synopsis}`, '', command.description, '', optionsHelp(command.options)].join('\n');
}

/**
 * Runs the program with `argv` (without node and script). Never throws: usage errors exit 2 and
 * start failures exit 1, each with a message on stderr.
 */
export function runProgram(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): void {
  const [first, ...rest] = argv;
  if (first === undefined || first === '--help' || first === '-h' || first === 'help') {
    const wanted = first === 'help' ? rest[0] : undefined;
    const command = wanted !== undefined ? commands.get(wanted) : undefined;
    if (wanted !== undefined && command === undefined) return usageExit('syncmesh', `unknown command ${JSON.stringify(wanted)}; commands: ${[...commands.keys()].join(', ')}`, 'syncmesh --help');
    if (first === undefined) {
      // No command at all is a usage error: the overview goes to stderr, exit 2.
      process.stderr.write(`${programHelp()}\n`);
      process.exitCode = 2;
      return;
    }
    process.stdout.write(`${command ? commandHelp(command) : programHelp()}\n`);
    return;
  }
  if (first === '--version' || first === '-v') {
    process.stdout.write(`syncmesh ${version()}\n`);
    return;
  }
  const command = commands.get(first);
  if (command === undefined) {
    return usageExit('syncmesh', `unknown command ${JSON.stringify(first)}; commands: ${[...commands.keys()].join(', ')}`, 'syncmesh --help');
  }
  let values: OptionValues<OptionTable>;
  try {
    if (rest.includes('--help') || rest.includes('-h')) {
      process.stdout.write(`${commandHelp(command)}\n`);
      return;
    }
    values = parseOptions(command.options, rest, env);
  } catch (err) {
    return usageExit(`syncmesh ${command.name}`, (err as Error).message, `syncmesh ${command.name} --help`);
  }
  command.run(values).catch((err: unknown) => {
    if (err instanceof UsageError) return usageExit(`syncmesh ${command.name}`, err.message, `syncmesh ${command.name} --help`);
    process.stderr.write(`syncmesh ${command.name}: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}

function usageExit(who: string, message: string, helpCommand: string): void {
  process.stderr.write(`${who}: ${message}\nRun \`${helpCommand}\` for the ${helpCommand === 'syncmesh --help' ? 'commands' : 'flags'}.\n`);
  process.exit(2);
}

/** True when the module at `moduleUrl` is the script node was started with (also through a symlink). */
export function isEntryPoint(moduleUrl: string): boolean {
  const script = process.argv[1];
  if (script === undefined) return false;
  try {
    return realpathSync(script) === fileURLToPath(moduleUrl);
  } catch {
    return false;
  }
}
