import { DataMoveError } from '../data-move-error.js';
import { openSqlite, type SqliteConnection } from './open-sqlite.js';
import { migrate } from './sqlite-schema.js';

/** Tables every Broker database has had since its first schema version. */
const BROKER_TABLES = ['users', 'events', 'latest'];

let known: number | undefined;

/** The schema version this Broker creates (what its migrations reach), read off an in-memory database. */
export function knownSchemaVersion(): number {
  if (known === undefined) {
    const db = openSqlite(':memory:', { brokerSettings: false });
    try {
      migrate(db);
      known = userVersion(db);
    } finally {
      db.close();
    }
  }
  return known;
}

export interface SchemaInfo {
  /** PRAGMA user_version: the last migration applied (0 for a file Broker never opened). */
  readonly version: number;
  /** Whether Broker's tables are there. */
  readonly broker: boolean;
  /** No table at all: a new, empty file. */
  readonly blank: boolean;
}

/** What an open connection holds; SQLITE_NOTADB and the like propagate (see describeOpenError). */
export function schemaInfo(db: SqliteConnection): SchemaInfo {
  const version = userVersion(db);
  const tables = db.prepare<[], { name: string }>("SELECT name FROM sqlite_master WHERE type = 'table'").all().map((t) => t.name);
  return {
    version,
    broker: version >= 1 && BROKER_TABLES.every((t) => tables.includes(t)),
    blank: tables.length === 0 && version === 0,
  };
}

/**
 * Refuses what this Broker cannot use: a file that is not Broker's database (bad input), or one
 * whose schema is newer than it knows (upgrade Broker). `what` names the file in the message.
 */
export function requireBrokerSchema(info: SchemaInfo, what: string): void {
  if (!info.broker) throw new DataMoveError(`${what} is an SQLite database but not a Broker database`, true);
  const knows = knownSchemaVersion();
  if (info.version > knows) {
    throw new DataMoveError(
      `${what} has schema version ${info.version}, newer than this Broker knows (${knows}): use a newer Broker`,
      false,
    );
  }
}

/** SQLite's ways of saying "this file is not a (sound) database". */
export function isNotADatabase(error: unknown): boolean {
  const code = (error as { code?: unknown }).code;
  return code === 'SQLITE_NOTADB' || code === 'SQLITE_CORRUPT';
}

/** PRAGMA user_version: the last migration applied. */
export function userVersion(db: SqliteConnection): number {
  return db.prepare<[], number>('PRAGMA user_version').pluck().get() ?? 0;
}
