import type { Config } from '../config/settings.js';
import { PostgresStore } from './postgres/postgres-store.js';
import { SqliteStore } from './sqlite/sqlite-store.js';
import type { Store } from './store.js';

/**
 * The store of DATABASE_URL, alone: what the server's composition root opens, and what the
 * command line opens for its work on the database (users, backups, …) without loading the server.
 */
export async function openStore(config: Pick<Config, 'databaseUrl'>): Promise<Store> {
  const db = config.databaseUrl;
  return db.kind === 'postgres' ? openPostgresStore(db.url) : new SqliteStore(db.path);
}

export function openPostgresStore(url: string): Promise<PostgresStore> {
  return PostgresStore.open(url).catch((error: unknown) => {
    const message = error instanceof Error ? error.message : String(error);
    throw new Error(`cannot open the PostgreSQL database ${describeUrl(url)}: ${message}`, { cause: error });
  });
}

/** host:port/database of a URL, never its password. */
function describeUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.hostname}:${u.port || '5432'}${u.pathname}`;
  } catch {
    return '(unparsable URL)';
  }
}
