import { closeSync, existsSync, fstatSync, fsyncSync, mkdirSync, openSync, realpathSync, renameSync, rmSync, writeSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fsyncDir, fsyncFile, tempPathBeside } from '../../lib/durable-file.js';
import { DataMoveError } from '../data-move-error.js';
import { openSqlite, type SqliteConnection } from './open-sqlite.js';
import { isNotADatabase } from './sqlite-database-file.js';

/**
 * Written over the first bytes of a replaced database file (no longer at its path), so that a
 * program that opened it in the meantime stops with "file is not a database" (SQLite's header
 * is "SQLite format 3\0") instead of running on a file nobody will ever open again.
 */
const SPOILED_HEADER = Buffer.from('Replaced by `broker restore` or `broker import`: open the database again.\n'.padEnd(100, ' '));

/**
 * Exclusive hold of an SQLite database path, to put a new database file in its place
 * (`broker restore`, `broker import`).
 *
 * How a running Broker is detected: by SQLite's own file locks. Every connection to a WAL
 * database holds a shared lock on it for as long as it is open, and leaving WAL mode
 * (`journal_mode = DELETE`) needs every other connection closed; with no wait (busy_timeout 0)
 * the attempt fails at once with SQLITE_BUSY while any process — a Broker, `broker users`, an
 * embedding program, the sqlite3 shell — has the database open. The kernel drops these locks
 * when a process dies, so a crashed Broker leaves no stale lock (and its write-ahead log is
 * folded into the file by that same switch), and there is no pid file to trust or to clean up.
 * The hold then keeps an exclusive lock until release(): a Broker started meanwhile waits for it
 * and gives up after its busy timeout, rather than opening a file about to be replaced; one that
 * got in just before the release finds the old file spoiled (see SPOILED_HEADER).
 */
export class SqliteReplacement {
  private oldFile: number | undefined;
  private committed = false;

  private constructor(
    /** The database's path, symlinks resolved (the file a rename must replace). */
    readonly path: string,
    /** A connection holding the exclusive lock, for reading what the database holds. */
    readonly connection: SqliteConnection,
    /** No database was there: this hold made an empty file to keep the name. */
    private readonly placeholder: boolean,
  ) {}

  /** Takes the database at `path` (or its name, if there is none yet); refuses while it is in use. */
  static acquire(path: string): SqliteReplacement {
    mkdirSync(dirname(resolve(path)), { recursive: true, mode: 0o700 });
    const real = existsSync(path) ? realpathSync(path) : resolve(path);
    const placeholder = !existsSync(real);
    const db = openSqlite(real, { brokerSettings: false });
    try {
      db.exec('PRAGMA busy_timeout = 0');
      if (db.prepare<[], string>('PRAGMA journal_mode = DELETE').pluck().get() !== 'delete') {
        throw Object.assign(new Error('busy'), { code: 'SQLITE_BUSY' });
      }
      db.exec('PRAGMA locking_mode = EXCLUSIVE');
      db.exec('BEGIN EXCLUSIVE');
    } catch (error) {
      db.close();
      if (placeholder) rmSync(real, { force: true });
      const code = (error as { code?: unknown }).code;
      if (code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED') {
        throw new DataMoveError(
          `the database ${path} is in use: a Broker (or another program — broker users, the sqlite3 shell) has it open; stop it first`,
          false,
          { cause: error },
        );
      }
      if (isNotADatabase(error)) {
        throw new DataMoveError(`${path} is not a readable SQLite database: move it away first (e.g. mv ${path} ${path}.broken)`, false, {
          cause: error,
        });
      }
      throw error;
    }
    return new SqliteReplacement(real, db, placeholder);
  }

  /** A fresh path beside the database, for building its replacement. */
  tempPath(tag: string): string {
    return tempPathBeside(this.path, tag);
  }

  /**
   * Puts `temp` (a complete, closed database file) in place of the database: synced to disk,
   * stale `-wal`/`-shm`/`-journal` files removed (SQLite would apply a stale log to the new
   * file), renamed over the database (atomic), directory synced. Then the old file is spoiled.
   */
  commit(temp: string): void {
    fsyncFile(temp);
    for (const suffix of ['-wal', '-shm', '-journal']) rmSync(`${this.path}${suffix}`, { force: true });
    this.oldFile = openSync(this.path, 'r+');
    renameSync(temp, this.path);
    this.committed = true;
    fsyncDir(dirname(this.path));
    // Only if no other name leads to the old file: then nobody can reach it but by a descriptor
    // opened before the rename.
    if (fstatSync(this.oldFile).nlink === 0) {
      writeSync(this.oldFile, SPOILED_HEADER, 0, SPOILED_HEADER.length, 0);
      fsyncSync(this.oldFile);
    }
  }

  /** Lets go of the database; a placeholder that nothing replaced is removed. */
  release(): void {
    if (this.connection.inTransaction) this.connection.exec('ROLLBACK');
    this.connection.close();
    // Closed after the connection: closing any descriptor of a file drops every POSIX lock this
    // process holds on it, SQLite's included.
    if (this.oldFile !== undefined) closeSync(this.oldFile);
    if (this.placeholder && !this.committed) rmSync(this.path, { force: true });
  }
}
