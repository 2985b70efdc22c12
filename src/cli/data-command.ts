import type { Config } from '../config/settings.js';
import { DataMoveError } from '../store/data-move-error.js';
import { CliError, EXIT } from './cli-io.js';
import { toCliError } from './command.js';

/** What backup and restore say, with exit status 2, when DATABASE_URL is a PostgreSQL one. */
const POSTGRES_INSTEAD = {
  backup: 'with PostgreSQL use pg_dump (consistent while the nodes run): pg_dump --format=custom --file=broker.dump "$DATABASE_URL"',
  restore:
    'with PostgreSQL use pg_restore into an empty database, the nodes stopped: ' +
    'pg_restore --exit-on-error --single-transaction --no-owner --dbname="$DATABASE_URL" broker.dump',
} as const;

/** The SQLite file of DATABASE_URL for `command`; a PostgreSQL URL or an in-memory one is bad usage. */
export function sqlitePathFor(config: Config, command: keyof typeof POSTGRES_INSTEAD): string {
  const db = config.databaseUrl;
  if (db.kind === 'postgres') {
    throw new CliError(`broker ${command} works on SQLite databases; ${POSTGRES_INSTEAD[command]} (see docs/operations.md)`, EXIT.usage);
  }
  if (db.path === ':memory:') throw new CliError(`an in-memory database (${db.url}) has no file to ${command}`, EXIT.usage);
  return db.path;
}

/** The one positional argument `what` (e.g. FILE). */
export function onePositional(positionals: readonly string[], what: string): string {
  if (positionals.length === 0) throw new CliError(`${what} is required`, EXIT.usage);
  if (positionals.length > 1) throw new CliError(`unexpected argument "${positionals[1]}"`, EXIT.usage);
  return positionals[0] as string;
}

/** A refusal of the data commands: the file at fault is exit status 2, anything else 1. */
export function toDataCliError(error: unknown): CliError {
  if (error instanceof DataMoveError) return new CliError(error.message, error.badInput ? EXIT.usage : EXIT.failed);
  return toCliError(error);
}

/** 1234567 → "1.2 MB". */
export function formatBytes(bytes: number): string {
  if (bytes < 1000) return `${bytes} B`;
  if (bytes < 1e6) return `${(bytes / 1e3).toFixed(1)} kB`;
  if (bytes < 1e9) return `${(bytes / 1e6).toFixed(1)} MB`;
  return `${(bytes / 1e9).toFixed(2)} GB`;
}
