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
  readonly databaseUrl?: string;
  readonly bcryptCost?: number;
  readonly passwordMinLength?: number;
  readonly loginRateLimit?: number;
  readonly streamAuth?: boolean;
  readonly heartbeatInterval?: number;
  readonly retry?: number;
  readonly sendBufferLimit?: number;
  readonly maxSubscribers?: number;
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

/** Validates options (and the environment fallback) into a frozen Config, or throws BrokerConfigError. */
export function resolveConfig(options: BrokerOptions | string = {}): Config {
  const opts: BrokerOptions = typeof options === 'string' ? { origin: options } : options;
  const problems: string[] = [];
  const raw: Partial<Record<SettingName, string>> = {};
  for (const [key, value] of Object.entries(opts)) {
    if (key === 'env' || value === undefined) continue;
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
  if (problems.length > 0 || loaded.kind !== 'config') throw new BrokerConfigError(problems);
  return loaded.config;
}

/** "PORT (--port) must…" → "port (PORT) must…": name the option the caller wrote. */
function renameForOptions(problem: string): string {
  for (const [key, s] of Object.entries(settings)) {
    const prefix = `${s.env} (--${s.flag})`;
    if (problem.startsWith(prefix)) return `${key} (${s.env})${problem.slice(prefix.length)}`;
  }
  return problem;
}
