import { copyFileSync, existsSync, mkdirSync, realpathSync, rmSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { tempPathBeside } from '../../lib/durable-file.js';
import { DataMoveError } from '../data-move-error.js';
import { openSqlite, type SqliteConnection } from './open-sqlite.js';
import { isNotADatabase, requireBrokerSchema, schemaInfo } from './sqlite-database-file.js';
import { SqliteReplacement } from './sqlite-replacement.js';

/**
 * Puts the backup `file` in place of the database at `dbPath`. The file is copied beside the
 * database first and checked there (an SQLite file, Broker's tables, a schema this Broker knows,
 * PRAGMA quick_check), so a bad file never gets near the database; then the database is taken
 * (refused while anything has it open, see SqliteReplacement) and the copy renamed over it.
 * Any failure leaves the database as it was and removes the copy.
 */
export function restoreSqlite(file: string, dbPath: string): { readonly version: number; readonly bytes: number } {
  if (!existsSync(file)) throw new DataMoveError(`there is no file ${file}`, true);
  if (!statSync(file).isFile()) throw new DataMoveError(`${file} is not a file`, true);
  if (existsSync(dbPath) && realpathSync(file) === realpathSync(dbPath)) {
    throw new DataMoveError(`${file} is the database itself`, true);
  }
  // A live database keeps recent commits in its log: copying the main file alone would lose them.
  if (existsSync(`${file}-wal`) && statSync(`${file}-wal`).size > 0) {
    throw new DataMoveError(
      `${file} has a write-ahead log beside it (${file}-wal): it is in use or was not closed; make a copy with \`broker backup\` instead`,
      true,
    );
  }
  mkdirSync(dirname(resolve(dbPath)), { recursive: true, mode: 0o700 });
  // Copied and checked before the database is taken, so checking a big file keeps it locked no
  // longer than the rename.
  const temp = tempPathBeside(existsSync(dbPath) ? realpathSync(dbPath) : dbPath, 'restore');
  let version: number;
  try {
    copyFileSync(file, temp);
    version = checkBackup(temp, file);
    const hold = SqliteReplacement.acquire(dbPath);
    try {
      hold.commit(temp);
    } finally {
      hold.release();
    }
  } catch (error) {
    for (const suffix of ['', '-wal', '-shm', '-journal']) rmSync(`${temp}${suffix}`, { force: true });
    throw error;
  }
  return { version, bytes: statSync(dbPath).size };
}

/** Opens the copy `path` of `file` and checks it is a sound Broker database; its schema version. */
function checkBackup(path: string, file: string): number {
  let db: SqliteConnection | undefined;
  try {
    db = openSqlite(path, { fileMustExist: true, brokerSettings: false });
    const info = schemaInfo(db);
    requireBrokerSchema(info, file);
    const problems = db.prepare<[], string>('PRAGMA quick_check').pluck().get();
    if (problems !== 'ok') throw new DataMoveError(`${file} is damaged: ${String(problems)}`, true);
    return info.version;
  } catch (error) {
    if (isNotADatabase(error)) throw new DataMoveError(`${file} is not an SQLite database`, true, { cause: error });
    throw error;
  } finally {
    db?.close();
  }
}
