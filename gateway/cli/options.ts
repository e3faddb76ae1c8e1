/**
 * Settings of the `syncmesh` program: one table per command, each setting read from a flag
 * (`--name value` or `--name=value`, booleans `--name` / `--no-name`) or from its environment variable
 * (`SYNCMESH_NAME`, dashes as underscores), a flag winning over its variable, then the default.
 *
 * The table is the only place a setting is written down: parsing (util.parseArgs), the environment,
 * validation and `--help` all come from it, so the help cannot drift from what is accepted. Adding a
 * setting is one line in the table, e.g.
 *
 *   'nats-creds': { kind: 'string', help: 'NATS credentials file of this role' },
 *
 * which gives `--nats-creds`, `SYNCMESH_NATS_CREDS`, a typed `values['nats-creds']` and a help line.
 */
import { parseArgs } from 'node:util';
import { UsageError } from './errors.js';

type Kind = 'string' | 'int' | 'bool' | 'list';
type ValueOf<K extends Kind> = K extends 'int' ? number : K extends 'bool' ? boolean : K extends 'list' ? string[] : string;

/** One setting. `default` present: the value is always set; absent: it may be undefined. */
export interface OptionDef {
  readonly kind: Kind;
  /** One line: what it is, its unit, what 0 or an empty value means. */
  readonly help: string;
  readonly default?: string | number | boolean | readonly string[];
  /** Bounds of an `int`. */
  readonly min?: number;
  readonly max?: number;
  /** Accepted values of a `string` or of each `list` item. */
  readonly choices?: readonly string[];
  /** Must be given (by flag or environment). */
  readonly required?: boolean;
  /** The help shows it under this heading (a role name, say); default "general". */
  readonly group?: string;
  /** Placeholder in the help (default from the kind: N, LIST, VALUE). */
  readonly placeholder?: string;
  /** Not read from the environment (`--help`). */
  readonly flagOnly?: boolean;
}

export type OptionTable = Readonly<Record<string, OptionDef>>;

/** Parsed values, typed from the table. */
export type OptionValues<T extends OptionTable> = {
  -readonly [N in keyof T]: T[N] extends { default: unknown } | { required: true } ? ValueOf<T[N]['kind']> : ValueOf<T[N]['kind']> | undefined;
};

/** `--http-port` -> `SYNCMESH_HTTP_PORT`. */
export function envName(flag: string): string {
  return `SYNCMESH_${flag.toUpperCase().replace(/-/g, '_')}`;
}

const TRUE = new Set(['1', 'true', 'yes', 'on']);
const FALSE = new Set(['0', 'false', 'no', 'off']);

function convert(name: string, def: OptionDef, raw: string, source: string): string | number | boolean | string[] {
  switch (def.kind) {
    case 'bool': {
      const v = raw.trim().toLowerCase();
      if (TRUE.has(v)) return true;
      if (FALSE.has(v)) return false;
      throw new UsageError(`${source} must be true or false (1/0, yes/no, on/off); got ${JSON.stringify(raw)}`);
    }
    case 'int': {
      const n = raw.trim() === '' ? NaN : Number(raw);
      const bounds = `${def.min !== undefined ? ` from ${def.min}` : ''}${def.max !== undefined ? ` to ${def.max}` : ''}`;
      if (!Number.isInteger(n) || (def.min !== undefined && n < def.min) || (def.max !== undefined && n > def.max)) {
        throw new UsageError(`${source} must be a whole number${bounds}; got ${JSON.stringify(raw)}`);
      }
      return n;
    }
    case 'list': {
      const items = raw.split(',').map((s) => s.trim()).filter(Boolean);
      if (def.choices) {
        for (const item of items) {
          if (!def.choices.includes(item)) throw new UsageError(`${source}: unknown value ${JSON.stringify(item)}; accepted: ${def.choices.join(', ')}`);
        }
      }
      return items;
    }
    case 'string':
      if (def.choices && !def.choices.includes(raw)) throw new UsageError(`${source} must be one of ${def.choices.join(', ')}; got ${JSON.stringify(raw)}`);
      if (raw === '') throw new UsageError(`${source} is empty; give a value or leave it out`);
      return raw;
  }
  throw new UsageError(`--${name}: unsupported kind`);
}

/**
 * Parses `argv` (no program or command name) and `env` against `table`. Throws UsageError naming
 * the flag or variable and what it accepts: unknown flags, positional arguments, missing or bad values.
 */
export function parseOptions<T extends OptionTable>(table: T, argv: readonly string[], env: NodeJS.ProcessEnv): OptionValues<T> {
  const spec: Record<string, { type: 'string' | 'boolean' }> = {};
  for (const [name, def] of Object.entries(table)) spec[name] = { type: def.kind === 'bool' ? 'boolean' : 'string' };
  let parsed: { values: Record<string, string | boolean | undefined> };
  try {
    parsed = parseArgs({ args: [...argv], options: spec, strict: true, allowPositionals: false, allowNegative: true }) as typeof parsed;
  } catch (err) {
    throw new UsageError(explainParseError(err as Error & { code?: string }, table));
  }
  const out: Record<string, unknown> = {};
  for (const [name, def] of Object.entries(table)) {
    const flag = parsed.values[name];
    if (flag !== undefined) {
      out[name] = typeof flag === 'boolean' ? flag : convert(name, def, flag, `--${name}`);
      continue;
    }
    const fromEnv = def.flagOnly ? undefined : env[envName(name)];
    if (fromEnv !== undefined && fromEnv !== '') {
      out[name] = convert(name, def, fromEnv, `${envName(name)} (environment)`);
      continue;
    }
    if (def.required) throw new UsageError(`--${name} is required (or ${envName(name)}): ${def.help}`);
    out[name] = Array.isArray(def.default) ? [...def.default] : def.default;
  }
  return out as OptionValues<T>;
}

/** util.parseArgs errors, said in this program's words. */
function explainParseError(err: Error & { code?: string }, table: OptionTable): string {
  const known = `known flags: ${Object.keys(table).map((k) => `--${k}`).join(', ')}`;
  const quoted = /'([^']+)'/.exec(err.message)?.[1] ?? '';
  switch (err.code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION':
      return `unknown flag ${quoted}; ${known}`;
    case 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL':
      return `unexpected argument ${JSON.stringify(quoted)}: flags look like --name value`;
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE': {
      const flag = quoted.split(' ')[0] ?? quoted;
      const def = table[flag.replace(/^--(no-)?/, '')];
      if (/does not take an argument/.test(err.message)) return `${flag} is a switch and takes no value: write ${flag} or --no-${flag.slice(2)}`;
      return `${flag} needs a value${def ? ` (${def.help})` : ''}`;
    }
    default:
      return err.message;
  }
}

function placeholder(def: OptionDef): string {
  if (def.placeholder) return def.placeholder;
  if (def.kind === 'bool') return '';
  if (def.kind === 'int') return 'N';
  if (def.kind === 'list') return 'A,B';
  return 'VALUE';
}

function showDefault(def: OptionDef): string | undefined {
  if (def.required) return 'required';
  if (def.default === undefined) return undefined;
  if (def.kind === 'bool') return def.default ? 'on' : 'off';
  if (Array.isArray(def.default)) return def.default.length > 0 ? def.default.join(',') : undefined;
  return String(def.default);
}

/** The flags part of `--help`: every setting with its variable and default, grouped. */
export function optionsHelp(table: OptionTable): string {
  const groups = new Map<string, string[]>();
  for (const [name, def] of Object.entries(table)) {
    const ph = placeholder(def);
    const head = def.kind === 'bool' && def.default === true ? `--${name} / --no-${name}` : `--${name}${ph ? ` ${ph}` : ''}`;
    const shown = def.flagOnly ? undefined : showDefault(def);
    const facts = [def.flagOnly ? undefined : `env ${envName(name)}`, shown === 'required' ? 'required' : shown !== undefined ? `default ${shown}` : undefined].filter(Boolean);
    const choices = def.choices && def.kind === 'string' ? `; one of ${def.choices.join(', ')}` : '';
    const lines = [`  ${head}${facts.length ? `    (${facts.join('; ')})` : ''}`, `      ${def.help}${choices}`];
    const group = def.group ?? 'general';
    groups.set(group, [...(groups.get(group) ?? []), ...lines]);
  }
  return [...groups.entries()].map(([g, lines]) => `${g}:\n${lines.join('\n')}`).join('\n\n');
}
