/**
 * A small, strict command-line flag parser: `--name value` or `--name=value`, booleans as `--flag`/`--no-flag`.
 * Unknown flags and bad values are errors that say what is accepted.
 */

export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export type FlagSpec = Record<string, { kind: 'int' | 'string' | 'bool' | 'list'; help: string; min?: number; max?: number }>;
export type FlagValues<S extends FlagSpec> = {
  [K in keyof S]?: S[K]['kind'] extends 'int' ? number : S[K]['kind'] extends 'bool' ? boolean : S[K]['kind'] extends 'list' ? string[] : string;
};

/** Parses argv against `spec`. Throws UsageError naming the flag and what it accepts. */
export function parseFlags<S extends FlagSpec>(argv: readonly string[], spec: S): FlagValues<S> {
  const out: Record<string, unknown> = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (!arg.startsWith('--')) throw new UsageError(`unexpected argument ${JSON.stringify(arg)}; flags look like --name value`);
    let name = arg.slice(2);
    let value: string | undefined;
    const eq = name.indexOf('=');
    if (eq >= 0) {
      value = name.slice(eq + 1);
      name = name.slice(0, eq);
    }
    let def = spec[name];
    if (!def && name.startsWith('no-') && spec[name.slice(3)]?.kind === 'bool') {
      out[name.slice(3)] = false;
      continue;
    }
    if (!def) throw new UsageError(`unknown flag --${name}; known flags: ${Object.keys(spec).map((k) => '--' + k).join(', ')}`);
    if (def.kind === 'bool') {
      out[name] = value === undefined ? true : value !== 'false' && value !== '0';
      continue;
    }
    if (value === undefined) {
      value = argv[++i];
      if (value === undefined) throw new UsageError(`--${name} needs a value (${def.help})`);
    }
    if (def.kind === 'int') {
      const n = Number(value);
      if (!Number.isInteger(n) || (def.min !== undefined && n < def.min) || (def.max !== undefined && n > def.max)) {
        throw new UsageError(`--${name} must be a whole number${def.min !== undefined ? ` from ${def.min}` : ''}${def.max !== undefined ? ` to ${def.max}` : ''}; got ${JSON.stringify(value)}`);
      }
      out[name] = n;
    } else if (def.kind === 'list') {
      out[name] = value.split(',').map((s) => s.trim()).filter(Boolean);
    } else {
      out[name] = value;
    }
    def = undefined;
  }
  return out as FlagValues<S>;
}

/** One line per flag, for --help. */
export function usage(spec: FlagSpec): string {
  return Object.entries(spec)
    .map(([k, v]) => `  --${k.padEnd(16)} ${v.help}`)
    .join('\n');
}
