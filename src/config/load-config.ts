import { parseArgs } from 'node:util';
import { ConfigValueError } from './parsers.js';
import { type Config, type SettingName, settings } from './settings.js';

/** A command's own flag, besides the settings (e.g. `--role` of `broker users add`). */
export interface ExtraOption {
  readonly type: 'string' | 'boolean';
  readonly multiple?: boolean;
  readonly short?: string;
}

export type ConfigSource = {
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly argv: readonly string[];
  /** The command's own flags; their values come back in `extra`. */
  readonly options?: Readonly<Record<string, ExtraOption>>;
  /** Whether the command takes positional arguments (they come back in `positionals`). */
  readonly positionals?: boolean;
};

/** Values of a command's own flags. */
export type ExtraValues = Readonly<Record<string, string | boolean | readonly (string | boolean)[] | undefined>>;

export type LoadResult =
  | {
      readonly kind: 'config';
      readonly config: Config;
      readonly extra?: ExtraValues;
      readonly positionals?: readonly string[];
    }
  | { readonly kind: 'help' }
  | { readonly kind: 'version' }
  | { readonly kind: 'invalid'; readonly problems: readonly string[] };

const names = Object.keys(settings) as SettingName[];

/**
 * Reads every setting from flags (first) and the environment, parses all of them and reports
 * every problem at once, so that a bad deployment is fixed in one round trip.
 */
export function loadConfig(source: ConfigSource): LoadResult {
  const options: Record<string, ExtraOption> = {
    help: { type: 'boolean', short: 'h' },
    version: { type: 'boolean', short: 'v' },
    ...source.options,
  };
  for (const name of names) options[settings[name].flag] = { type: 'string' };

  let flags: Record<string, string | boolean | (string | boolean)[] | undefined>;
  let positionals: string[];
  try {
    ({ values: flags, positionals } = parseArgs({
      args: [...source.argv],
      options,
      strict: true,
      allowPositionals: source.positionals === true,
    }));
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    return { kind: 'invalid', problems: [`${message} (see --help)`] };
  }
  if (flags.help === true) return { kind: 'help' };
  if (flags.version === true) return { kind: 'version' };

  const raw: Partial<Record<SettingName, string>> = {};
  for (const name of names) {
    const flag = flags[settings[name].flag];
    if (typeof flag === 'string') raw[name] = flag;
  }
  const loaded = parseSettings(raw, source.env);
  if (loaded.kind !== 'config') return loaded;
  const extra: Record<string, string | boolean | readonly (string | boolean)[] | undefined> = {};
  for (const key of Object.keys(source.options ?? {})) extra[key] = flags[key];
  return { ...loaded, extra, positionals };
}

/**
 * Parses raw setting texts (e.g. from flags or a library call) with the environment as fallback.
 * Shared by the command line and the library entry point so both validate identically.
 */
export function parseSettings(
  raw: Partial<Record<SettingName, string>>,
  env: Readonly<Record<string, string | undefined>>,
): LoadResult {
  const problems: string[] = [];
  const values: Record<string, unknown> = {};
  for (const name of names) {
    const s = settings[name];
    // An empty variable counts as unset (as compose files and shells often leave them).
    const fromEnv = env[s.env] === '' ? undefined : env[s.env];
    const text = raw[name] ?? fromEnv ?? s.default;
    if (text === undefined) {
      values[name] = undefined;
      continue;
    }
    try {
      values[name] = s.parse(text);
    } catch (error) {
      if (!(error instanceof ConfigValueError)) throw error;
      problems.push(`${s.env} (--${s.flag}) ${error.message}`);
    }
  }
  const nodeEnv = env.NODE_ENV;
  if (nodeEnv === 'production' && values.secret === undefined) {
    problems.push('SECRET (--secret) must be set when NODE_ENV=production: a generated secret is for development only');
  }
  // A certificate without its key (or the reverse) is a half-done TLS set-up: serving plain HTTP
  // instead would silently drop the encryption the operator asked for.
  const cert = settings.tlsCert;
  const key = settings.tlsKey;
  if ((values.tlsCert === undefined) !== (values.tlsKey === undefined)) {
    const [given, missing] = values.tlsCert === undefined ? [key, cert] : [cert, key];
    problems.push(`${given.env} (--${given.flag}) is set but ${missing.env} (--${missing.flag}) is not: HTTPS needs both the certificate and its key`);
  }
  if (problems.length > 0) return { kind: 'invalid', problems };
  return { kind: 'config', config: Object.freeze(values) as Config };
}
