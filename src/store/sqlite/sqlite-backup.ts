import { existsSync, realpathSync, rmSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { replaceDurably, tempPathBeside } from '../../lib/durable-file.js';
import { DataMoveError } from '../data-move-error.js';
import { openSqlite, type SqliteConnection } from './open-sqlite.js';
import { isNotADatabase, requireBrokerSchema, schemaInfo } from './sqlite-database-file.js';

/** How long to wait for a lock on the source, ms (a WAL reader only waits during recovery). */
const BUSY_TIMEOUT_MS = 5000;

export interface BackupResult {
  readonly bytes: number;
  readonly pages: number;
}

/**
 * Copies the SQLite database at `dbPath` to `target` while Broker may run and write, with SQLite's
 * online copy `VACUUM INTO`: one read transaction, so a consistent snapshot with every commit made
 * before it began (WAL lets Broker's writer go on meanwhile), written page by page by SQLite
 * itself — never a file copy, which could catch the database mid-write. (Not the backup API:
 * better-sqlite3 runs it through a native object of its own that is garbage afterwards, and
 * collecting such an object aborts Node 24; see open-sqlite.ts. VACUUM INTO is one statement.)
 * The copy is written beside `target` under a temporary name, synced, then renamed over it:
 * never a half-written backup.
 */
export async function backupSqlite(dbPath: string, target: string): Promise<BackupResult> {
  if (!existsSync(dbPath)) throw new DataMoveError(`there is no database at ${dbPath}`, false);
  const dir = dirname(resolve(target));
  if (!existsSync(dir)) throw new DataMoveError(`the directory ${dir} does not exist`, true);
  if (existsSync(target) && realpathSync(target) === realpathSync(dbPath)) {
    throw new DataMoveError(`${target} is the database itself: back it up to another file`, true);
  }
  let source: SqliteConnection;
  try {
    source = openSqlite(dbPath, { fileMustExist: true, brokerSettings: false });
    source.exec(`PRAGMA busy_timeout = ${BUSY_TIMEOUT_MS}`);
    requireBrokerSchema(schemaInfo(source), `the database ${dbPath}`);
  } catch (error) {
    if (isNotADatabase(error)) throw new DataMoveError(`${dbPath} is not a readable SQLite database`, false, { cause: error });
    throw error;
  }
  const temp = tempPathBeside(target, 'backup');
  try {
    source.prepare<[string]>('VACUUM INTO ?').run(temp);
    const pages = source.prepare<[], number>('PRAGMA page_count').pluck().get() ?? 0;
    replaceDurably(temp, target);
    return { bytes: statSync(target).size, pages };
  } catch (error) {
    rmSync(temp, { force: true });
    rmSync(`${temp}-journal`, { force: true });
    throw error;
  } finally {
    source.close();
  }
}
