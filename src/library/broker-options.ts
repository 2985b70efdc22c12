import { loadRules } from '../access/load-rules.js';
import { compileRules, type Rules, RulesError } from '../access/rules.js';
import { parseSettings } from '../config/load-config.js';
import { type Config, type SettingName, settings } from '../config/settings.js';
import { loadTlsCredentials, TlsError } from '../http/tls-credentials.js';

/**
 * Options of the library entry points: the same settings as the environment and flags, in
 * camelCase, each optional with the same default. Values are validated by the same parsers as
 * the command line, so a library call and `broker --…` accept exactly the same things.
 */
export interface BrokerOptions {
  readonly port?: number;
  readonly host?: string;
  /**
   * PEM files of the certificate and its key (TLS_CERT, TLS_KEY): startBroker then serves HTTPS
   * with HTTP/2 and HTTP/1.1. Not for a mounted Broker: the host's server does its TLS.
   */
  readonly tlsCert?: string;
  readonly tlsKey?: string;
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

/** The settings of the listening server, which a Broker mounted in a host's server has no use for. */
const TLS_OPTIONS = ['tlsCert', 'tlsKey'] as const;

/**
 * Validates options (and the environment fallback) into a frozen Config and the rules, or throws
 * BrokerConfigError listing every problem (an invalid rules file or document, and certificate
 * files that cannot serve, included). `mounted`: for brokerFastify and createBrokerHandler, which
 * refuse TLS options (the host's server does TLS) and ignore TLS_CERT and TLS_KEY in the
 * environment, as they ignore PORT and HOST.
 */
export function resolveOptions(options: BrokerOptions | string = {}, mounted = false): ResolvedOptions {
  const opts: BrokerOptions = typeof options === 'string' ? { origin: options } : options;
  const problems: string[] = [];
  if (mounted) {
    for (const key of TLS_OPTIONS) {
      if (opts[key] !== undefined) {
        problems.push(`${key}: a mounted Broker is served by your server, which does TLS (and HTTP/2) itself; the option is for startBroker`);
      }
    }
  }
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
  const env = opts.env ?? process.env;
  const loaded = parseSettings(raw, mounted ? withoutTls(env) : env);
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
  if (loaded.kind === 'config' && !mounted && loaded.config.tlsCert !== undefined && loaded.config.tlsKey !== undefined) {
    // Read now too, so that an unusable certificate is reported with the other problems.
    try {
      loadTlsCredentials(loaded.config.tlsCert, loaded.config.tlsKey);
    } catch (error) {
      if (!(error instanceof TlsError)) throw error;
      problems.push(`tlsCert, tlsKey (TLS_CERT, TLS_KEY): ${error.message}`);
    }
  }
  if (problems.length > 0 || loaded.kind !== 'config') throw new BrokerConfigError(problems);
  return { config: loaded.config, rules };
}

function withoutTls(env: Readonly<Record<string, string | undefined>>): Readonly<Record<string, string | undefined>> {
  const { [settings.tlsCert.env]: _cert, [settings.tlsKey.env]: _key, ...rest } = env;
  return rest;
}

/** "PORT (--port) must…" → "port (PORT) must…": name the option the caller wrote. */
function renameForOptions(problem: string): string {
  for (const [key, s] of Object.entries(settings)) {
    const prefix = `${s.env} (--${s.flag})`;
    if (problem.startsWith(prefix)) return `${key} (${s.env})${problem.slice(prefix.length)}`;
  }
  return problem;
}
