import { loadRules } from '../access/load-rules.js';
import { compileRules, type Rules, RulesError } from '../access/rules.js';
import { parseSettings } from '../config/load-config.js';
import { type Config, type SettingName, settings } from '../config/settings.js';

/**
 * Options of the library entry points: the same settings as the environment and flags, in
 * camelCase, each optional with the same default. Values are validated by the same parsers as
 * the command line, so a library call and `broker --…` accept exactly the same things.
 */
export interface BrokerOptions {
  readonly port?: number;
  readonly host?: string;
  /** One origin, a list, or '*'. */
  readonly origin?: string | readonly string[];
  readonly expiry?: number;
  readonly secret?: string;
  readonly refreshExpiry?: number;
  /**
   * Access rules: the path of a rules file (as RULES), or the rules document itself,
   * e.g. `{ rules: [{ names: '>', read: 'public', write: 'user' }] }` (docs/access.md).
   */
  readonly rules?: string | { readonly rules: readonly unknown[] };
  readonly databaseUrl?: string;
  readonly bcryptCost?: number;
  readonly passwordMinLength?: number;
  readonly loginRateLimit?: number;
  readonly streamAuth?: boolean;
  readonly heartbeatInterval?: number;
  readonly retry?: number;
  readonly sendBufferLimit?: number;
  readonly maxSubscribers?: number;
  readonly maxStreamsPerUser?: number;
  readonly maxStreamsPerIp?: number;
  readonly bodyLimit?: number;
  readonly trustProxy?: boolean;
  readonly shutdownTimeout?: number;
  readonly logLevel?: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  /**
   * Fallback for settings not given here, like the original's `broker_run`, which read PORT,
   * EXPIRY and SECRET from the environment. Defaults to process.env; pass {} to ignore it.
   */
  readonly env?: Readonly<Record<string, string | undefined>>;
}

/** Invalid options: every problem, as the command line lists them at start-up. */
export class BrokerConfigError extends Error {
  readonly problems: readonly string[];

  constructor(problems: readonly string[]) {
    super(`invalid Broker options:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'BrokerConfigError';
    this.problems = problems;
  }
}

const names = new Set<string>(Object.keys(settings));

/** A Broker's configuration from library options: the settings, and rules given as a document. */
export interface ResolvedOptions {
  readonly config: Config;
  /** Rules given as a document (the `rules` option as an object); a file is read by the core. */
  readonly rules: Rules | undefined;
}

/**
 * Validates options (and the environment fallback) into a frozen Config and the rules, or throws
 * BrokerConfigError listing every problem (an invalid rules file or document included).
 */
export function resolveOptions(options: BrokerOptions | string = {}): ResolvedOptions {
  const opts: BrokerOptions = typeof options === 'string' ? { origin: options } : options;
  const problems: string[] = [];
  const raw: Partial<Record<SettingName, string>> = {};
  let rules: Rules | undefined;
  if (typeof opts.rules === 'object' && opts.rules !== null) {
    try {
      rules = compileRules(opts.rules);
    } catch (error) {
      if (!(error instanceof RulesError)) throw error;
      problems.push(`rules: ${error.message}`);
    }
  }
  for (const [key, value] of Object.entries(opts)) {
    if (key === 'env' || value === undefined || (key === 'rules' && typeof value === 'object')) continue;
    if (!names.has(key)) {
      problems.push(`unknown option "${key}"`);
      continue;
    }
    const name = key as SettingName;
    if (Array.isArray(value)) raw[name] = value.map(String).join(',');
    else if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') raw[name] = String(value);
    else problems.push(`${key} must be a string, number or boolean`);
  }
  const loaded = parseSettings(raw, opts.env ?? process.env);
  if (loaded.kind === 'invalid') problems.push(...loaded.problems.map(renameForOptions));
  if (loaded.kind === 'config' && rules === undefined && loaded.config.rules !== undefined) {
    // A file: read now, so that a bad one is reported with the other problems.
    try {
      rules = loadRules(loaded.config.rules);
    } catch (error) {
      if (!(error instanceof RulesError)) throw error;
      problems.push(`rules (RULES): ${error.message}`);
    }
  }
  if (problems.length > 0 || loaded.kind !== 'config') throw new BrokerConfigError(problems);
  return { config: loaded.config, rules };
}

/** "PORT (--port) must…" → "port (PORT) must…": name the option the caller wrote. */
function renameForOptions(problem: string): string {
  for (const [key, s] of Object.entries(settings)) {
    const prefix = `${s.env} (--${s.flag})`;
    if (problem.startsWith(prefix)) return `${key} (${s.env})${problem.slice(prefix.length)}`;
  }
  return problem;
}
