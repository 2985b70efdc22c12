import { stat } from 'node:fs/promises';
import { MicroBatcher } from '../../lib/micro-batcher.js';
import { usernameKey } from '../../lib/username-key.js';
import { likePattern } from '../like-pattern.js';
import { StorageHealth, StorageOpenError } from '../storage-health.js';
import { storedEvent } from '../stored-event.js';
import type {
  AppendBatch,
  AppendOutcome,
  EventStore,
  HistoryPage,
  NewEvent,
  ReleasedEvent,
  RetentionStore,
  Seq,
  SessionStore,
  StorageStats,
  Store,
  StoredEvent,
  UserStore,
} from '../store.js';
import { openSqlite, type SqliteConnection, type SqliteStatement } from './open-sqlite.js';
import {
  type AuthChangeRow,
  EVENT_COLUMNS,
  type EventRow,
  prefixedColumns,
  toAuthChange,
  toReleased,
  toStored,
  toUser,
  USER_COLUMNS,
  type UserRow,
} from './sqlite-rows.js';
import { migrate } from './sqlite-schema.js';
import { inlineWriter, type SqliteWriter, threadWriter } from './sqlite-writer.js';
import type { BatchResult } from './sqlite-writes.js';

/** Most inserts committed in one transaction (rows); bounds the time one commit takes. */
const MAX_GROUP_COMMIT = 2000;

/** Batches sent to the writer thread and not yet answered, at most (× MAX_GROUP_COMMIT rows). */
const WRITER_QUEUE_BATCHES = 16;

/**
 * The embedded store. Writes go to a writer thread with its own connection (inline for an
 * in-memory database), so a commit's fsync never blocks the event loop. Concurrent inserts
 * share one commit: a MicroBatcher gathers those of one event-loop turn, and the writer thread
 * merges every batch that queued while it was committing. Reads run on this thread's
 * connection: better-sqlite3 answers them in microseconds from the page cache, and WAL lets
 * them run beside the writer.
 */
export class SqliteStore implements Store {
  readonly users: UserStore;
  readonly sessions: SessionStore;
  readonly events: EventStore;
  readonly retention: RetentionStore;
  private readonly db: SqliteConnection;
  /** Prepared once: a statement per call would be kept until the thread ends (see openSqlite). */
  private readonly selectOne: SqliteStatement<[]>;
  private readonly writer: SqliteWriter;
  private readonly batcher: MicroBatcher<AppendBatch, AppendOutcome>;
  private closed = false;
  private releaseSink: ((released: readonly ReleasedEvent[]) => void) | undefined;

  private readonly health = new StorageHealth();

  constructor(
    private readonly path: string,
    now: () => number = () => Date.now() / 1000,
  ) {
    const db = openChecked(path);
    this.db = db;
    if (path === ':memory:') this.writer = inlineWriter(db);
    else {
      // This connection only reads from now on; the writer thread owns every write.
      db.exec('PRAGMA query_only = 1');
      this.writer = threadWriter(path, MAX_GROUP_COMMIT);
    }
    this.selectOne = db.prepare('SELECT 1');
    // Every write goes through the health check: out of space → 507, and back once it works.
    const raw = this.writer;
    const health = this.health;
    const writer: SqliteWriter = {
      append: (items, at, limit) => health.write(raw.append(items, at, limit)),
      run: (name, ...args) => health.write(raw.run(name, ...args)),
      close: () => raw.close(),
    };

    this.batcher = new MicroBatcher<AppendBatch, AppendOutcome>(
      async (batches) => {
        const { released, batches: results } = await writer.append(batches, now(), MAX_GROUP_COMMIT);
        if (released.length > 0) this.releaseSink?.(released);
        return results.map((r, k) => outcome(batches[k] as AppendBatch, r));
      },
      MAX_GROUP_COMMIT,
      // A writer thread commits together whatever queued while it was busy, so batches are sent
      // as they form (the bound only caps memory); inline, one at a time.
      path === ':memory:' ? 1 : WRITER_QUEUE_BATCHES,
      (batch) => batch.events.length,
    );

    const selectUserByKey = db.prepare<[string], UserRow>(`SELECT ${USER_COLUMNS} FROM users WHERE username_key = ?`);
    const selectUserById = db.prepare<[string], UserRow>(`SELECT ${USER_COLUMNS} FROM users WHERE id = ?`);
    const selectUserKeyById = db.prepare<[string], { username_key: string }>('SELECT username_key FROM users WHERE id = ?');
    // Search is a substring of the case-folded name; LIKE's wildcards in it are escaped.
    const selectUsers = db.prepare<[string, string, number], UserRow>(
      `SELECT ${USER_COLUMNS} FROM users WHERE username_key > ? AND username_key LIKE ? ESCAPE '\\'
       ORDER BY username_key LIMIT ?`,
    );
    this.users = {
      createUser: (user) => writer.run('createUser', user, now()),
      findUserByName: async (username: string) => {
        const row = selectUserByKey.get(usernameKey(username));
        return row && toUser(row);
      },
      findUserById: async (id) => {
        const row = selectUserById.get(id);
        return row && toUser(row);
      },
      listUsers: async ({ search, after, limit }) => {
        let from = '';
        if (after !== undefined) {
          const row = selectUserKeyById.get(after);
          if (!row) return undefined;
          from = row.username_key;
        }
        return selectUsers.all(from, likePattern(search), limit).map(toUser);
      },
      updateUser: (id, change) => writer.run('updateUser', id, change, now()),
      deleteUser: (id) => writer.run('deleteUser', id, now()),
    };

    const selectChanges = db.prepare<[number, number, number], AuthChangeRow>(
      'SELECT id, at, user_id, gen, session_id FROM auth_changes WHERE id > ? AND at >= ? ORDER BY id LIMIT ?',
    );
    this.sessions = {
      create: (session) => writer.run('createSession', session, now()),
      rotate: (presented, next) => writer.run('rotateRefresh', presented, next, now()),
      revoke: (sessionId, userId) => writer.run('revokeSession', sessionId, userId, now()),
      readChanges: async ({ after, since, limit }) =>
        selectChanges.all(after, since ?? Number.NEGATIVE_INFINITY, limit).map(toAuthChange),
      prune: (before) => writer.run('pruneSessions', before, now()),
    };

    const selectMaxSeq = db.prepare<[], { seq: number | null }>('SELECT max(seq) AS seq FROM events');
    const selectReleased = db.prepare<[number, number], EventRow>(
      `SELECT ${EVENT_COLUMNS} FROM events WHERE seq > ? ORDER BY seq LIMIT ?`,
    );
    const selectReleasedNamed = db.prepare<[number, string, number], EventRow>(
      `SELECT ${EVENT_COLUMNS} FROM events WHERE seq > ? AND event IN (SELECT value FROM json_each(?)) ORDER BY seq LIMIT ?`,
    );
    const selectLatest = db.prepare<[number, number, number], EventRow>(
      `SELECT ${prefixedColumns('e')} FROM latest l JOIN events e ON e.seq = l.seq
       WHERE l.seq > ? AND l.seq <= ? ORDER BY l.seq LIMIT ?`,
    );
    const selectLatestNamed = db.prepare<[number, number, string, number], EventRow>(
      `SELECT ${prefixedColumns('e')} FROM latest l JOIN events e ON e.seq = l.seq
       WHERE l.seq > ? AND l.seq <= ? AND l.event IN (SELECT value FROM json_each(?)) ORDER BY l.seq LIMIT ?`,
    );
    const selectHistoryFirst = db.prepare<[string, number], EventRow>(
      `SELECT ${EVENT_COLUMNS} FROM events WHERE event = ? ORDER BY timestamp, pos LIMIT ?`,
    );
    const selectHistoryAfter = db.prepare<[string, number, number, number], EventRow>(
      `SELECT ${EVENT_COLUMNS} FROM events WHERE event = ? AND (timestamp, pos) > (?, ?) ORDER BY timestamp, pos LIMIT ?`,
    );
    const selectById = db.prepare<[string], EventRow>(`SELECT ${EVENT_COLUMNS} FROM events WHERE id = ?`);
    const selectNames = db.prepare<[string, number], { event: string }>('SELECT event FROM latest WHERE event > ? ORDER BY event LIMIT ?');
    const selectReleasedAfter = db.prepare<[number, number], { seq: number; event: string; released_at: number }>(
      'SELECT seq, event, released_at FROM events WHERE seq > ? ORDER BY seq LIMIT ?',
    );
    this.retention = {
      pruneName: (name, keep, limit) => writer.run('pruneName', name, keep, limit),
      names: async (after, limit) => selectNames.all(after, limit).map((r) => r.event),
      releasedAfter: async (afterSeq, limit) =>
        selectReleasedAfter.all(afterSeq, limit).map((r) => ({ seq: r.seq, event: r.event, releasedAt: r.released_at })),
    };
    const selectPendingFirst = db.prepare<[string, number], EventRow>(
      `SELECT ${EVENT_COLUMNS} FROM events WHERE user_id = ? AND seq IS NULL AND cancelled = 0 ORDER BY timestamp, pos LIMIT ?`,
    );
    const selectPendingAfter = db.prepare<[string, number, number, number], EventRow>(
      `SELECT ${EVENT_COLUMNS} FROM events WHERE user_id = ? AND seq IS NULL AND cancelled = 0 AND (timestamp, pos) > (?, ?)
       ORDER BY timestamp, pos LIMIT ?`,
    );
    const selectNextDue = db.prepare<[], { timestamp: number }>(
      'SELECT timestamp FROM events WHERE seq IS NULL AND cancelled = 0 ORDER BY timestamp, pos LIMIT 1',
    );

    this.events = {
      append: async (event) => {
        const result = await this.batcher.submit({ events: [event] });
        return (result as Extract<AppendOutcome, { kind: 'stored' }>).events[0] as StoredEvent;
      },
      appendBatch: (batch) => this.batcher.submit(batch),
      pruneIdempotencyKeys: async (at) => {
        await writer.run('pruneIdempotencyKeys', at);
      },
      onAppendRelease: (sink) => {
        this.releaseSink = sink;
      },
      appendsSettled: () => this.batcher.settled(),
      releaseDue: (at, limit) => writer.run('releaseDue', at, limit),
      readReleased: async ({ after, names, limit }) =>
        (names === undefined
          ? selectReleased.all(after, limit)
          : selectReleasedNamed.all(after, JSON.stringify(names), limit)
        ).map(toReleased),
      readLatest: async ({ after, upTo, names, limit }) =>
        (names === undefined
          ? selectLatest.all(after, upTo, limit)
          : selectLatestNamed.all(after, upTo, JSON.stringify(names), limit)
        ).map(toReleased),
      lastSeq: async (): Promise<Seq> => selectMaxSeq.get()?.seq ?? 0,
      history: async (name: string, page: HistoryPage) => {
        if (page.after === undefined) return selectHistoryFirst.all(name, page.limit).map(toStored);
        const from = selectById.get(page.after);
        if (!from || from.event !== name) return undefined;
        return selectHistoryAfter.all(name, from.timestamp, from.pos, page.limit).map(toStored);
      },
      cancel: (id, userId, asAdmin = false) => writer.run('cancel', id, userId, asAdmin, now()),
      pending: async (userId, page) => {
        if (page.after === undefined) return selectPendingFirst.all(userId, page.limit).map(toStored);
        const from = selectById.get(page.after);
        if (!from || from.user_id !== userId) return undefined;
        return selectPendingAfter.all(userId, from.timestamp, from.pos, page.limit).map(toStored);
      },
      nextDueAt: async () => selectNextDue.get()?.timestamp,
    };
  }

  storageFull(): boolean {
    return this.health.full;
  }

  async stats(): Promise<StorageStats> {
    const s = await this.writer.run('stats');
    let wal = 0;
    if (this.path !== ':memory:') wal = await stat(`${this.path}-wal`).then((w) => w.size, () => 0);
    return {
      bytes: s.pages * s.pageSize + wal,
      pending: s.pending,
      released: s.released,
      cancelled: s.cancelled,
      oldestPendingDue: s.oldestPendingDue ?? undefined,
    };
  }

  async ping(): Promise<void> {
    if (this.closed) throw new Error('store is closed');
    this.selectOne.get();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    await this.batcher.drain();
    this.closed = true;
    await this.writer.close();
    this.db.close();
  }
}

/**
 * Opens and migrates the database, or throws a StorageOpenError that says what is wrong in
 * words an operator can act on (start-up then stops with exit status 2, without a stack trace).
 */
function openChecked(path: string): SqliteConnection {
  let db: SqliteConnection | undefined;
  try {
    db = openSqlite(path);
    migrate(db);
    return db;
  } catch (error) {
    db?.close();
    const code = (error as { code?: unknown }).code;
    const message = error instanceof Error ? error.message : String(error);
    const why =
      code === 'SQLITE_NOTADB' || code === 'SQLITE_CORRUPT'
        ? 'it is not a SQLite database, or it is corrupt (restore a backup: docs/operations.md)'
        : code === 'SQLITE_READONLY' || code === 'SQLITE_CANTOPEN' || code === 'SQLITE_PERM' || code === 'EACCES' || code === 'EROFS'
          ? `it cannot be opened for writing (${message}): Broker writes the database and its -wal and -shm files beside it`
          : error instanceof StorageOpenError
            ? message
            : undefined;
    if (why === undefined) throw error;
    throw new StorageOpenError(`cannot use the SQLite database ${path}: ${why}`, { cause: error });
  }
}

/** A batch's outcome from what the writer did with it. */
function outcome(batch: AppendBatch, result: BatchResult): AppendOutcome {
  if (result.kind === 'duplicate') return result;
  return {
    kind: 'stored',
    events: batch.events.map((e, i) => storedEvent(e, result.seqs[i] ?? undefined)),
  };
}
