import { existsSync, realpathSync, rmSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import Database from 'better-sqlite3';
import { replaceDurably, tempPathBeside } from '../../lib/durable-file.js';
import { DataMoveError } from '../data-move-error.js';
import { isNotADatabase, requireBrokerSchema, schemaInfo } from './sqlite-database-file.js';

/** Pages per backup step: all of them, so the copy is one read transaction (see backupSqlite). */
const ALL_PAGES = 0x7fffffff;
/** How long to wait for a lock on the source, ms (a WAL reader only waits during recovery). */
const BUSY_TIMEOUT_MS = 5000;

export interface BackupResult {
  readonly bytes: number;
  readonly pages: number;
}

/**
 * Copies the SQLite database at `dbPath` to `target` with SQLite's online backup API, while
 * Broker may run and write. The whole copy is one backup step, so one read transaction: a
 * consistent snapshot with every commit made before it began (WAL lets Broker's writer go on
 * meanwhile). Copied step by step instead, a write between two steps would restart the copy,
 * and a steady stream of inserts could keep restarting it. The copy is written beside `target`
 * under a temporary name, synced, then renamed over it: never a half-written backup.
 */
export async function backupSqlite(dbPath: string, target: string): Promise<BackupResult> {
  if (!existsSync(dbPath)) throw new DataMoveError(`there is no database at ${dbPath}`, false);
  const dir = dirname(resolve(target));
  if (!existsSync(dir)) throw new DataMoveError(`the directory ${dir} does not exist`, true);
  if (existsSync(target) && realpathSync(target) === realpathSync(dbPath)) {
    throw new DataMoveError(`${target} is the database itself: back it up to another file`, true);
  }
  let source: Database.Database;
  try {
    source = new Database(dbPath, { fileMustExist: true });
    source.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
    requireBrokerSchema(schemaInfo(source), `the database ${dbPath}`);
  } catch (error) {
    if (isNotADatabase(error)) throw new DataMoveError(`${dbPath} is not a readable SQLite database`, false, { cause: error });
    throw error;
  }
  const temp = tempPathBeside(target, 'backup');
  try {
    const { totalPages } = await source.backup(temp, { progress: () => ALL_PAGES });
    replaceDurably(temp, target);
    return { bytes: statSync(target).size, pages: totalPages };
  } catch (error) {
    rmSync(temp, { force: true });
    rmSync(`${temp}-journal`, { force: true });
    throw error;
  } finally {
    source.close();
  }
}
