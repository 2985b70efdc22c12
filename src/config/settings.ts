import {
  boolean,
  type DatabaseUrl,
  databaseUrl,
  decimal,
  integer,
  nonEmpty,
  oneOf,
  origins,
} from './parsers.js';

/**
 * Every setting of Broker, declared once. The environment variable, the command-line flag,
 * the default, `--help` and docs/configuration.md all come from this table (a test checks
 * that the doc lists every entry).
 */
export interface Setting<T> {
  /** Environment variable (the original Broker's names where it had one). */
  readonly env: string;
  /** Long command-line flag, without the leading dashes. */
  readonly flag: string;
  /** Raw default text, parsed like any other input; undefined = not set. */
  readonly default: string | undefined;
  readonly doc: string;
  readonly parse: (raw: string) => T;
  /** Never printed or logged. */
  readonly secret?: boolean;
}

function setting<T>(s: Setting<T>): Setting<T> {
  return s;
}

const MiB = 1024 * 1024;

export const settings = {
  port: setting({
    env: 'PORT',
    flag: 'port',
    default: '8080',
    doc: 'TCP port to listen on (0 picks a free port).',
    parse: integer(0, 65535),
  }),
  host: setting({
    env: 'HOST',
    flag: 'host',
    default: '0.0.0.0',
    doc: 'Address to listen on (use 127.0.0.1 to accept local connections only).',
    parse: nonEmpty,
  }),
  tlsCert: setting<string>({
    env: 'TLS_CERT',
    flag: 'tls-cert',
    default: undefined,
    doc: 'PEM file of the server certificate (and its chain). With TLS_KEY: HTTPS, with HTTP/2 and HTTP/1.1 on the same port (ALPN); without both: plain HTTP/1.1. SIGHUP reloads both files.',
    parse: nonEmpty,
  }),
  tlsKey: setting<string>({
    env: 'TLS_KEY',
    flag: 'tls-key',
    default: undefined,
    doc: 'PEM file of the private key of TLS_CERT (unencrypted; keep it readable by Broker only).',
    parse: nonEmpty,
  }),
  origin: setting<readonly string[]>({
    env: 'ORIGIN',
    flag: 'origin',
    default: '*',
    doc: 'Allowed CORS origin(s): one origin, a comma-separated list, or * for any.',
    parse: origins,
  }),
  expiry: setting({
    env: 'EXPIRY',
    flag: 'expiry',
    default: '3600',
    doc: 'Lifetime of issued JWTs, in seconds (1 s to 1 year).',
    parse: integer(1, 365 * 24 * 3600),
  }),
  secret: setting<string>({
    env: 'SECRET',
    flag: 'secret',
    default: undefined,
    doc: 'HS256 key that signs JWTs (at least 32 characters recommended). When unset, Broker generates one and keeps it in <data dir>/secret (mode 0600); with NODE_ENV=production it must be set.',
    parse: nonEmpty,
    secret: true,
  }),
  refreshExpiry: setting({
    env: 'REFRESH_EXPIRY',
    flag: 'refresh-expiry',
    default: String(30 * 24 * 3600),
    doc: 'Lifetime of a refresh token, in seconds (60 s to 1 year); each use replaces it with a new one of the same lifetime.',
    parse: integer(60, 365 * 24 * 3600),
  }),
  rules: setting<string>({
    env: 'RULES',
    flag: 'rules',
    default: undefined,
    doc: 'JSON file of access rules (who may read and write which event names; docs/access.md). Unset: every name is readable by anyone and writable by any user. SIGHUP reloads it.',
    parse: nonEmpty,
  }),
  pruneInterval: setting({
    env: 'PRUNE_INTERVAL',
    flag: 'prune-interval',
    default: '5',
    doc: 'Seconds between rounds of retention (removing versions past a rule\'s keep); a version past its limit is gone within about twice this.',
    parse: decimal(0.1, 3600),
  }),
  databaseUrl: setting<DatabaseUrl>({
    env: 'DATABASE_URL',
    flag: 'database-url',
    default: 'sqlite:./tmp/broker.db',
    doc: 'Where Broker stores everything: sqlite:<path> (embedded, the default) or postgres://… (several nodes on one database).',
    parse: databaseUrl,
    secret: true,
  }),
  bcryptCost: setting({
    env: 'BCRYPT_COST',
    flag: 'bcrypt-cost',
    default: '10',
    doc: 'bcrypt cost factor for password hashes (4 to 15; each step doubles the work).',
    parse: integer(4, 15),
  }),
  passwordMinLength: setting({
    env: 'PASSWORD_MIN_LENGTH',
    flag: 'password-min-length',
    default: '8',
    doc: 'Shortest password accepted by POST /users, in characters (1 to 72).',
    parse: integer(1, 72),
  }),
  loginRateLimit: setting({
    env: 'LOGIN_RATE_LIMIT',
    flag: 'login-rate-limit',
    default: '20',
    doc: 'Login and sign-up attempts allowed per minute, counted per client IP and per username; more get 429.',
    parse: integer(1, 1_000_000),
  }),
  streamAuth: setting({
    env: 'STREAM_AUTH',
    flag: 'stream-auth',
    default: 'false',
    doc: 'Require a valid token on GET /events (Authorization header, access_token cookie or access_token query parameter).',
    parse: boolean,
  }),
  heartbeatInterval: setting({
    env: 'HEARTBEAT_INTERVAL',
    flag: 'heartbeat-interval',
    default: '15',
    doc: 'Seconds between heartbeat comments on every stream (keeps proxies from closing idle streams).',
    parse: decimal(0.1, 3600),
  }),
  retry: setting({
    env: 'RETRY',
    flag: 'retry',
    default: '3000',
    doc: 'Reconnection delay sent to EventSource clients in the retry: field, in milliseconds.',
    parse: integer(0, 3_600_000),
  }),
  sendBufferLimit: setting({
    env: 'SEND_BUFFER_LIMIT',
    flag: 'send-buffer-limit',
    default: String(256 * 1024),
    doc: 'Bytes a subscriber may have waiting unsent before it is disconnected as too slow (it can resume with Last-Event-ID).',
    parse: integer(16 * 1024, 64 * MiB),
  }),
  maxSubscribers: setting({
    env: 'MAX_SUBSCRIBERS',
    flag: 'max-subscribers',
    default: '0',
    doc: 'Most concurrent streams; more get 503. 0 = automatic: the open-file limit minus 500 descriptors kept for the database and other requests.',
    parse: integer(0, 10_000_000),
  }),
  maxStreamsPerUser: setting({
    env: 'MAX_STREAMS_PER_USER',
    flag: 'max-streams-per-user',
    default: '100',
    doc: 'Most concurrent streams one user (with a token) may hold on a node; more get 429. 0 = no limit.',
    parse: integer(0, 10_000_000),
  }),
  maxStreamsPerIp: setting({
    env: 'MAX_STREAMS_PER_IP',
    flag: 'max-streams-per-ip',
    default: '1000',
    doc: 'Most concurrent streams without a token from one client address (the real one behind TRUST_PROXY) on a node; more get 429. 0 = no limit.',
    parse: integer(0, 10_000_000),
  }),
  insertBatchMax: setting({
    env: 'INSERT_BATCH_MAX',
    flag: 'insert-batch-max',
    default: '1000',
    doc: 'Most events in one POST /insert batch (a JSON array), stored all or nothing in one commit.',
    parse: integer(1, 100_000),
  }),
  idempotencyTtl: setting({
    env: 'IDEMPOTENCY_TTL',
    flag: 'idempotency-ttl',
    default: String(24 * 3600),
    doc: 'Seconds an Idempotency-Key of POST /insert is remembered: a retry with it within this time gets the first answer and stores nothing.',
    parse: integer(60, 30 * 24 * 3600),
  }),
  bodyLimit: setting({
    env: 'BODY_LIMIT',
    flag: 'body-limit',
    default: String(MiB),
    doc: 'Largest accepted request body, in bytes; larger ones get 413.',
    parse: integer(1024, 64 * MiB),
  }),
  trustProxy: setting({
    env: 'TRUST_PROXY',
    flag: 'trust-proxy',
    default: 'false',
    doc: 'Trust X-Forwarded-For from a reverse proxy for the client IP (rate limits, logs). Only enable behind a proxy you run.',
    parse: boolean,
  }),
  shutdownTimeout: setting({
    env: 'SHUTDOWN_TIMEOUT',
    flag: 'shutdown-timeout',
    default: '10',
    doc: 'Seconds to wait for in-flight requests on SIGTERM/SIGINT before closing anyway.',
    parse: decimal(0.1, 600),
  }),
  logLevel: setting({
    env: 'LOG_LEVEL',
    flag: 'log-level',
    default: 'info',
    doc: 'Log level of the JSON logs on stdout.',
    parse: oneOf(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const),
  }),
} as const;

export type Settings = typeof settings;
export type SettingName = keyof Settings;
type ValueOf<S> = S extends Setting<infer T> ? T : never;

/** Settings without a default: undefined when not given. */
type Optional = 'secret' | 'rules' | 'tlsCert' | 'tlsKey';

/** The parsed, frozen configuration. */
export type Config = { readonly [K in Exclude<SettingName, Optional>]: ValueOf<Settings[K]> } & {
  readonly [K in Optional]: ValueOf<Settings[K]> | undefined;
};
