import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';

/**
 * A prepared statement. No iterate(): its iterator would be one more native object that becomes
 * garbage (see `retained`); no `database`: it would reach past SqliteConnection.
 */
export type SqliteStatement<P extends unknown[] = unknown[], R = unknown> = Omit<
  Database.Statement<P, R>,
  'iterate' | 'database'
>;

/**
 * The part of a better-sqlite3 connection Broker uses. Every statement it prepares is kept (see
 * `retained`), so prepare each statement once per connection, never per call; and it has no
 * pragma(), which prepares a statement of its own and drops it (set pragmas with exec()).
 */
export interface SqliteConnection {
  prepare<P extends unknown[] = unknown[], R = unknown>(source: string): SqliteStatement<P, R>;
  transaction<F extends Parameters<Database.Database['transaction']>[0]>(fn: F): Database.Transaction<F>;
  exec(source: string): void;
  /** A transaction is open (BEGIN without COMMIT or ROLLBACK yet). */
  readonly inTransaction: boolean;
  close(): void;
}

/**
 * Every better-sqlite3 object this thread has made, kept reachable until the thread (or the
 * process) ends, even after its connection is closed.
 *
 * Why: Node 24.19 changed the header-only `node::ObjectWrap`, which better-sqlite3 12's Database,
 * Statement and iterator derive from: its destructor now un-registers a cleanup hook and asserts
 * that a Node.js context is entered. When V8 collects such an object as garbage, the destructor
 * runs inside that collection, and a collection started by optimized code's allocation runs with
 * no context entered: the process aborts (SIGABRT, `RemoveEnvironmentCleanupHook ... (env) !=
 * nullptr`) at a random moment. Closing the database or its statements first does not help (the
 * destructor runs all the same). An object that is never garbage is deleted instead by Node's
 * environment cleanup when its thread ends, with a context entered; that path is safe. Node 20
 * and 22 are unaffected, and better-sqlite3 13 (Node-API, no ObjectWrap) has no such destructor,
 * but needs Node 22. The cost: a closed connection keeps its objects until its thread ends,
 * about 16 KB of memory for a closed in-memory store (close() still frees the SQLite handles).
 */
const retained: object[] = [];

function retain<T extends object>(o: T): T {
  retained.push(o);
  return o;
}

export interface OpenOptions {
  /** Refuse a path where there is no file (SQLite would create one). */
  readonly fileMustExist?: boolean;
  /**
   * Broker's settings (the default): the folder created, WAL, synchronous=FULL, a 5 s busy
   * timeout. Tools that must not change a file's journal mode (restore, import, backups) pass
   * false and set what they need with exec().
   */
  readonly brokerSettings?: boolean;
}

/**
 * A connection with Broker's settings: WAL (readers never wait for the writer), and
 * synchronous=FULL so that a commit is on disk — surviving a crash or a power cut — before
 * anything it holds is acknowledged.
 */
export function openSqlite(path: string, options: OpenOptions = {}): SqliteConnection {
  const settings = options.brokerSettings ?? true;
  if (settings && path !== ':memory:') mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const db = retain(new Database(path, { fileMustExist: options.fileMustExist ?? false }));
  if (settings) db.exec('PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA busy_timeout = 5000');
  return {
    prepare: <P extends unknown[] = unknown[], R = unknown>(source: string): SqliteStatement<P, R> =>
      retain(db.prepare<P, R>(source)),
    transaction: (fn) => db.transaction(fn),
    exec: (source) => {
      db.exec(source);
    },
    get inTransaction() {
      return db.inTransaction;
    },
    close: () => {
      db.close();
    },
  };
}
