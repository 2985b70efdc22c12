import { MicroBatcher } from '../../lib/micro-batcher.js';
import { usernameKey } from '../../lib/username-key.js';
import type { EventStore, HistoryPage, NewEvent, ReleasedEvent, Seq, Store, StoredEvent, UserStore } from '../store.js';
import { openSqlite, type SqliteConnection, type SqliteStatement } from './open-sqlite.js';
import { EVENT_COLUMNS, type EventRow, prefixedColumns, toReleased, toStored } from './sqlite-rows.js';
import { migrate } from './sqlite-schema.js';
import { inlineWriter, type SqliteWriter, threadWriter } from './sqlite-writer.js';

interface UserRow {
  id: string;
  username: string;
  password_hash: string;
  info: string;
}

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
  readonly events: EventStore;
  private readonly db: SqliteConnection;
  /** Prepared once: a statement per call would be kept until the thread ends (see openSqlite). */
  private readonly selectOne: SqliteStatement<[]>;
  private readonly writer: SqliteWriter;
  private readonly batcher: MicroBatcher<NewEvent, StoredEvent>;
  private closed = false;
  private releaseSink: ((released: readonly ReleasedEvent[]) => void) | undefined;

  constructor(path: string, now: () => number = () => Date.now() / 1000) {
    const db = openSqlite(path);
    this.db = db;
    migrate(db);
    if (path === ':memory:') this.writer = inlineWriter(db);
    else {
      // This connection only reads from now on; the writer thread owns every write.
      db.exec('PRAGMA query_only = 1');
      this.writer = threadWriter(path, MAX_GROUP_COMMIT);
    }
    const writer = this.writer;
    this.selectOne = db.prepare('SELECT 1');

    this.batcher = new MicroBatcher<NewEvent, StoredEvent>(
      async (items) => {
        const { released, seqs } = await writer.append(items, now(), MAX_GROUP_COMMIT);
        if (released.length > 0) this.releaseSink?.(released);
        return items.map((e, i): StoredEvent => {
          const seq = seqs[i] ?? undefined;
          return { ...e, published: seq !== undefined, cancelled: false, seq };
        });
      },
      MAX_GROUP_COMMIT,
      // A writer thread commits together whatever queued while it was busy, so batches are sent
      // as they form (the bound only caps memory); inline, one at a time.
      path === ':memory:' ? 1 : WRITER_QUEUE_BATCHES,
    );

    const selectUserByKey = db.prepare<[string], UserRow>(
      'SELECT id, username, password_hash, info FROM users WHERE username_key = ?',
    );
    this.users = {
      createUser: (user) => writer.createUser(user, now()),
      findUserByName: async (username: string) => {
        const row = selectUserByKey.get(usernameKey(username));
        return row && { id: row.id, username: row.username, passwordHash: row.password_hash, info: row.info };
      },
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
    const selectNextDue = db.prepare<[], { timestamp: number }>(
      'SELECT timestamp FROM events WHERE seq IS NULL AND cancelled = 0 ORDER BY timestamp, pos LIMIT 1',
    );

    this.events = {
      append: (event) => this.batcher.submit(event),
      onAppendRelease: (sink) => {
        this.releaseSink = sink;
      },
      releaseDue: (at, limit) => writer.releaseDue(at, limit),
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
      cancel: (id, userId) => writer.cancel(id, userId, now()),
      nextDueAt: async () => selectNextDue.get()?.timestamp,
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
