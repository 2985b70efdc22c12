import { existsSync, rmSync } from 'node:fs';
import { usernameKey } from '../../lib/username-key.js';
import { DataMoveError } from '../data-move-error.js';
import { latestWithoutEvent, throwIfNotEmpty, tokenWithoutSession } from '../dump-refusals.js';
import type { DumpReader, DumpRecord, DumpSnapshot, DumpWriter, NumberedRecord } from '../dump.js';
import type { Seq } from '../store.js';
import { openSqlite, type SqliteConnection, type SqliteStatement } from './open-sqlite.js';
import { isNotADatabase, requireBrokerSchema, schemaInfo } from './sqlite-database-file.js';
import { SqliteReplacement } from './sqlite-replacement.js';
import { toUser, USER_COLUMNS, type EventRow as SqliteEventRow, type UserRow } from './sqlite-rows.js';
import { migrate } from './sqlite-schema.js';

/** Records per page of an export. */
const PAGE = 250;
/** How long to wait for a lock, ms (a WAL reader only waits while a crashed writer's log is recovered). */
const BUSY_TIMEOUT_MS = 5000;

/** An `events` row with the column only a dump reads. */
type EventRow = Omit<SqliteEventRow, 'pos'> & { cancelled_at: number | null };

/**
 * Export from SQLite: one deferred read transaction on a connection of its own is the snapshot
 * (WAL: Broker's writer goes on meanwhile, the reader sees none of it); each section is read in
 * pages of PAGE rows in primary-key order (keyset paging: each page starts after the last key of
 * the one before, with one prepared statement per section — no statement iterators, which are
 * native objects that become garbage, see open-sqlite.ts).
 */
export class SqliteDumpReader implements DumpReader {
  private constructor(private readonly db: SqliteConnection) {}

  static open(path: string): SqliteDumpReader {
    if (!existsSync(path)) throw new DataMoveError(`there is no database at ${path}`, false);
    let db: SqliteConnection | undefined;
    try {
      db = openSqlite(path, { fileMustExist: true, brokerSettings: false });
      db.exec(`PRAGMA busy_timeout = ${BUSY_TIMEOUT_MS}`);
      requireBrokerSchema(schemaInfo(db), `the database ${path}`);
      // An older schema is brought up to date first, as a starting Broker would.
      migrate(db);
      db.exec('PRAGMA query_only = 1');
      return new SqliteDumpReader(db);
    } catch (error) {
      db?.close();
      if (isNotADatabase(error)) throw new DataMoveError(`${path} is not a readable SQLite database`, false, { cause: error });
      throw error;
    }
  }

  async read<T>(consume: (snapshot: DumpSnapshot) => Promise<T>): Promise<T> {
    const db = this.db;
    db.exec('BEGIN');
    try {
      // The first read fixes the snapshot every later read of the transaction sees.
      const releaseSeq = db.prepare<[], { seq: number | null }>('SELECT max(seq) AS seq FROM events').get()?.seq ?? 0;
      return await consume({ releaseSeq, records: () => this.records() });
    } finally {
      db.exec('COMMIT');
    }
  }

  private async *records(): AsyncGenerator<DumpRecord[]> {
    const db = this.db;
    yield* pages(
      db.prepare<[string, number], UserRow>(`SELECT ${USER_COLUMNS} FROM users WHERE id > ? ORDER BY id LIMIT ?`),
      '',
      (row) => row.id,
      (row) => ({ type: 'user', ...toUser(row) }),
    );
    yield* pages(
      db.prepare<[number, number], EventRow & { pos: number }>(
        `SELECT pos, id, user_id, event, timestamp, data, inserted_at, seq, released_at, cancelled, cancelled_at
         FROM events WHERE pos > ? ORDER BY pos LIMIT ?`,
      ),
      0,
      (r) => r.pos,
      (r) => ({
        type: 'event',
        id: r.id,
        userId: r.user_id,
        event: r.event,
        timestamp: r.timestamp,
        data: r.data,
        insertedAt: r.inserted_at,
        seq: r.seq,
        releasedAt: r.released_at,
        cancelled: r.cancelled === 1,
        cancelledAt: r.cancelled_at,
      }),
    );
    yield* pages(
      db.prepare<[string, number], { event: string; seq: number; timestamp: number }>(
        'SELECT event, seq, timestamp FROM latest WHERE event > ? ORDER BY event LIMIT ?',
      ),
      '',
      (r) => r.event,
      (r) => ({ type: 'latest', event: r.event, seq: r.seq, timestamp: r.timestamp }),
    );
    yield* pages(
      db.prepare<[string, number], { id: string; user_id: string; created_at: number; ended_at: number | null }>(
        'SELECT id, user_id, created_at, ended_at FROM sessions WHERE id > ? ORDER BY id LIMIT ?',
      ),
      '',
      (r) => r.id,
      (r) => ({ type: 'session', id: r.id, userId: r.user_id, createdAt: r.created_at, endedAt: r.ended_at }),
    );
    yield* pages(
      db.prepare<[string, number], { hash: string; session_id: string; expires_at: number; spent_at: number | null }>(
        'SELECT hash, session_id, expires_at, spent_at FROM refresh_tokens WHERE hash > ? ORDER BY hash LIMIT ?',
      ),
      '',
      (r) => r.hash,
      (r) => ({ type: 'refresh_token', hash: r.hash, sessionId: r.session_id, expiresAt: r.expires_at, spentAt: r.spent_at }),
    );
    yield* pages(
      db.prepare<[number, number], { id: number; at: number; user_id: string; gen: number | null; session_id: string | null }>(
        'SELECT id, at, user_id, gen, session_id FROM auth_changes WHERE id > ? ORDER BY id LIMIT ?',
      ),
      0,
      (r) => r.id,
      (r) => ({ type: 'auth_change', id: r.id, at: r.at, userId: r.user_id, gen: r.gen, sessionId: r.session_id }),
    );
  }

  async close(): Promise<void> {
    this.db.close();
  }
}

/** A section in pages of PAGE rows: `query(after, limit)` answers the rows whose key follows `after`. */
async function* pages<K, R>(
  query: SqliteStatement<[K, number], R>,
  first: K,
  key: (row: R) => K,
  map: (row: R) => DumpRecord,
): AsyncGenerator<DumpRecord[]> {
  let after = first;
  for (;;) {
    const rows = query.all(after, PAGE);
    if (rows.length > 0) {
      yield rows.map(map);
      after = key(rows[rows.length - 1] as R);
    }
    if (rows.length < PAGE) return;
  }
}

/**
 * Import into SQLite: into a new database file beside the configured one, which takes its place
 * only once complete (SqliteReplacement: synced, renamed, and refused while anything has the
 * database open). A failure removes the new file: the configured database is never touched.
 * Being a throwaway file until then, it is written without a journal and synced once at the end.
 */
export class SqliteDumpWriter implements DumpWriter {
  private released = false;

  private constructor(
    private readonly hold: SqliteReplacement,
    private readonly where: string,
  ) {}

  /** Takes the database at `path` (there may be none yet); refuses one in use or not empty. */
  static open(path: string): SqliteDumpWriter {
    const hold = SqliteReplacement.acquire(path);
    try {
      const info = schemaInfo(hold.connection);
      if (!info.blank) {
        if (!info.broker) throw new DataMoveError(`${path} is not a Broker database: import into a new or empty one`, false);
        const tables = new Set(
          hold.connection.prepare<[], { name: string }>("SELECT name FROM sqlite_master WHERE type = 'table'").all().map((t) => t.name),
        );
        const count = (table: string): number =>
          tables.has(table) ? (hold.connection.prepare<[], { n: number }>(`SELECT count(*) AS n FROM ${table}`).get()?.n ?? 0) : 0;
        const others = ['latest', 'sessions', 'refresh_tokens', 'auth_changes'].reduce((n, t) => n + count(t), 0);
        throwIfNotEmpty(path, count('users'), count('events'), others);
      }
    } catch (error) {
      hold.release();
      throw error;
    }
    return new SqliteDumpWriter(hold, path);
  }

  async load(releaseSeq: Seq, batches: AsyncIterable<readonly NumberedRecord[]>): Promise<void> {
    const temp = this.hold.tempPath('import');
    const db = openSqlite(temp, { brokerSettings: false });
    let open = true;
    try {
      db.exec('PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF');
      migrate(db);
      const insert = inserts(db);
      db.exec('BEGIN');
      for await (const batch of batches) {
        for (const { line, record } of batch) {
          try {
            insert(record);
          } catch (error) {
            if (error instanceof DataMoveError) throw DataMoveError.atLine(line, error.message);
            if (!isSqliteError(error)) throw error;
            throw DataMoveError.atLine(line, `the database refused this ${record.type}: ${error.message}`, { cause: error });
          }
        }
      }
      const highest = db.prepare<[], { seq: number | null }>('SELECT max(seq) AS seq FROM events').get()?.seq ?? 0;
      if (highest !== releaseSeq) {
        throw new DataMoveError(
          `the release position ${releaseSeq} is past the highest seq of the events (${highest}): SQLite takes its release ` +
            'position from its events and cannot keep it (PostgreSQL can)',
          false,
        );
      }
      db.exec('COMMIT');
      db.exec('PRAGMA journal_mode = DELETE');
      db.close();
      open = false;
      this.hold.commit(temp);
    } catch (error) {
      if (open) db.close();
      rmSync(temp, { force: true });
      throw error;
    } finally {
      this.release();
    }
  }

  async close(): Promise<void> {
    this.release();
  }

  private release(): void {
    if (this.released) return;
    this.released = true;
    this.hold.release();
  }

  /** For messages. */
  toString(): string {
    return this.where;
  }
}

function isSqliteError(error: unknown): error is Error {
  const code = (error as { code?: unknown }).code;
  return error instanceof Error && typeof code === 'string' && code.startsWith('SQLITE_');
}

/** One prepared insert per section; `latest` and refresh tokens also check what they point at. */
function inserts(db: SqliteConnection): (record: DumpRecord) => void {
  const user = db.prepare(
    `INSERT INTO users (id, username, username_key, password_hash, info, roles, disabled, gen, created_at)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  );
  const event = db.prepare(
    `INSERT INTO events (pos, id, user_id, event, timestamp, data, inserted_at, seq, released_at, cancelled, cancelled_at)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  );
  const releasedVersion = db.prepare<[number], { event: string; timestamp: number }>('SELECT event, timestamp FROM events WHERE seq = ?');
  const latest = db.prepare('INSERT INTO latest (event, seq, timestamp) VALUES (?, ?, ?)');
  const session = db.prepare('INSERT INTO sessions (id, user_id, created_at, ended_at) VALUES (?, ?, ?, ?)');
  const sessionExists = db.prepare<[string], { id: string }>('SELECT id FROM sessions WHERE id = ?');
  const refresh = db.prepare('INSERT INTO refresh_tokens (hash, session_id, expires_at, spent_at) VALUES (?, ?, ?, ?)');
  const change = db.prepare('INSERT INTO auth_changes (id, at, user_id, gen, session_id) VALUES (?, ?, ?, ?, ?)');
  // Insertion order is kept as given: ties of equal timestamps are broken by it.
  let pos = 0;
  return (r) => {
    switch (r.type) {
      case 'user':
        user.run(r.id, r.username, usernameKey(r.username), r.passwordHash, r.info, JSON.stringify(r.roles), r.disabled ? 1 : 0, r.gen, r.createdAt);
        return;
      case 'event':
        pos += 1;
        event.run(pos, r.id, r.userId, r.event, r.timestamp, r.data, r.insertedAt, r.seq, r.releasedAt, r.cancelled ? 1 : 0, r.cancelledAt);
        return;
      case 'latest': {
        const version = releasedVersion.get(r.seq);
        if (version?.event !== r.event || version.timestamp !== r.timestamp) throw latestWithoutEvent(r.event, r.seq);
        latest.run(r.event, r.seq, r.timestamp);
        return;
      }
      case 'session':
        session.run(r.id, r.userId, r.createdAt, r.endedAt);
        return;
      case 'refresh_token':
        if (!sessionExists.get(r.sessionId)) throw tokenWithoutSession(r.sessionId);
        refresh.run(r.hash, r.sessionId, r.expiresAt, r.spentAt);
        return;
      case 'auth_change':
        change.run(r.id, r.at, r.userId, r.gen, r.sessionId);
        return;
    }
  };
}
