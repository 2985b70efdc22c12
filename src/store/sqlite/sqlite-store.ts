import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { usernameKey } from '../../lib/username-key.js';
import { MicroBatcher } from '../../lib/micro-batcher.js';
import type {
  CancelResult,
  EventStore,
  HistoryPage,
  NewEvent,
  ReleasedEvent,
  Seq,
  Store,
  StoredEvent,
  User,
  UserStore,
} from '../store.js';
import { migrate } from './sqlite-schema.js';

interface EventRow {
  pos: number;
  id: string;
  user_id: string;
  event: string;
  timestamp: number;
  data: string;
  inserted_at: number;
  seq: number | null;
  released_at: number | null;
  cancelled: number;
}

interface UserRow {
  id: string;
  username: string;
  password_hash: string;
  info: string;
}

const EVENT_COLUMNS = 'pos, id, user_id, event, timestamp, data, inserted_at, seq, released_at, cancelled';
/** Most inserts committed in one transaction (rows); bounds the time one commit holds the loop. */
const MAX_GROUP_COMMIT = 2000;

/**
 * The embedded store. better-sqlite3 is synchronous, which makes each method atomic with
 * respect to the event loop; WAL with synchronous=FULL makes a commit survive a crash (and a
 * power cut). Concurrent inserts share one commit through a MicroBatcher.
 */
export class SqliteStore implements Store {
  readonly users: UserStore;
  readonly events: EventStore;
  private readonly db: Database.Database;
  private readonly batcher: MicroBatcher<NewEvent, StoredEvent>;
  private closed = false;
  private releaseSink: ((released: readonly ReleasedEvent[]) => void) | undefined;

  constructor(path: string, now: () => number = () => Date.now() / 1000) {
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    const db = new Database(path);
    this.db = db;
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    db.pragma('busy_timeout = 5000');
    migrate(db);


    const selectUserByKey = db.prepare<[string], UserRow>(
      'SELECT id, username, password_hash, info FROM users WHERE username_key = ?',
    );
    const insertUser = db.prepare(
      'INSERT INTO users (id, username, username_key, password_hash, info, created_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (username_key) DO NOTHING',
    );
    this.users = {
      createUser: async (user: User) => {
        const result = insertUser.run(
          user.id,
          user.username,
          usernameKey(user.username),
          user.passwordHash,
          user.info,
          now(),
        );
        return result.changes === 1 ? 'created' : 'taken';
      },
      findUserByName: async (username: string) => {
        const row = selectUserByKey.get(usernameKey(username));
        return row && { id: row.id, username: row.username, passwordHash: row.password_hash, info: row.info };
      },
    };

    const selectMaxSeq = db.prepare<[], { seq: number | null }>('SELECT max(seq) AS seq FROM events');
    const selectDue = db.prepare<[number, number], EventRow>(
      `SELECT ${EVENT_COLUMNS} FROM events WHERE seq IS NULL AND cancelled = 0 AND timestamp <= ? ORDER BY timestamp, pos LIMIT ?`,
    );
    const markReleased = db.prepare('UPDATE events SET seq = ?, released_at = ? WHERE pos = ?');
    const upsertLatest = db.prepare(
      `INSERT INTO latest (event, seq, timestamp) VALUES (?, ?, ?)
       ON CONFLICT (event) DO UPDATE SET seq = excluded.seq, timestamp = excluded.timestamp
       WHERE excluded.timestamp > latest.timestamp
          OR (excluded.timestamp = latest.timestamp AND excluded.seq > latest.seq)`,
    );
    const releaseRows = (at: number, limit: number): ReleasedEvent[] => {
      const rows = selectDue.all(at, limit);
      let seq = selectMaxSeq.get()?.seq ?? 0;
      const released: ReleasedEvent[] = [];
      for (const row of rows) {
        seq += 1;
        markReleased.run(seq, at, row.pos);
        upsertLatest.run(row.event, seq, row.timestamp);
        released.push(toReleased({ ...row, seq, released_at: at }));
      }
      return released;
    };
    const releaseDue = db.transaction(releaseRows);

    const insertEvent = db.prepare(
      'INSERT INTO events (id, user_id, event, timestamp, data, inserted_at) VALUES (?, ?, ?, ?, ?, ?)',
    );
    // One transaction, one fsync: the batch's rows, and the release of whatever is due by then.
    const appendMany = db.transaction((items: readonly NewEvent[]) => {
      const at = now();
      let due = false;
      for (const e of items) {
        insertEvent.run(e.id, e.userId, e.event, e.timestamp, e.data, at);
        if (e.timestamp <= at) due = true;
      }
      const released = due ? releaseRows(at, MAX_GROUP_COMMIT) : [];
      const byId = new Map(released.map((r) => [r.id, r]));
      const stored = items.map((e): StoredEvent => {
        const r = byId.get(e.id);
        return { ...e, published: r !== undefined, cancelled: false, seq: r?.seq };
      });
      return { stored, released };
    });
    this.batcher = new MicroBatcher<NewEvent, StoredEvent>((items) => {
      const { stored, released } = appendMany.immediate(items);
      if (released.length > 0) this.releaseSink?.(released);
      return stored;
    }, MAX_GROUP_COMMIT);

    const selectReleased = db.prepare<[number, number], EventRow>(
      `SELECT ${EVENT_COLUMNS} FROM events WHERE seq > ? ORDER BY seq LIMIT ?`,
    );
    const selectReleasedNamed = db.prepare<[number, string, number], EventRow>(
      `SELECT ${EVENT_COLUMNS} FROM events WHERE seq > ? AND event IN (SELECT value FROM json_each(?)) ORDER BY seq LIMIT ?`,
    );
    const selectLatest = db.prepare<[number, number, number], EventRow>(
      `SELECT ${prefixed('e')} FROM latest l JOIN events e ON e.seq = l.seq
       WHERE l.seq > ? AND l.seq <= ? ORDER BY l.seq LIMIT ?`,
    );
    const selectLatestNamed = db.prepare<[number, number, string, number], EventRow>(
      `SELECT ${prefixed('e')} FROM latest l JOIN events e ON e.seq = l.seq
       WHERE l.seq > ? AND l.seq <= ? AND l.event IN (SELECT value FROM json_each(?)) ORDER BY l.seq LIMIT ?`,
    );
    const selectHistoryFirst = db.prepare<[string, number], EventRow>(
      `SELECT ${EVENT_COLUMNS} FROM events WHERE event = ? ORDER BY timestamp, pos LIMIT ?`,
    );
    const selectHistoryAfter = db.prepare<[string, number, number, number], EventRow>(
      `SELECT ${EVENT_COLUMNS} FROM events WHERE event = ? AND (timestamp, pos) > (?, ?) ORDER BY timestamp, pos LIMIT ?`,
    );
    const selectById = db.prepare<[string], EventRow>(`SELECT ${EVENT_COLUMNS} FROM events WHERE id = ?`);
    const markCancelled = db.prepare('UPDATE events SET cancelled = 1, cancelled_at = ? WHERE pos = ?');
    const cancel = db.transaction((id: string, userId: string): CancelResult => {
      const row = selectById.get(id);
      if (!row) return { kind: 'not_found' };
      if (row.user_id !== userId) return { kind: 'forbidden' };
      if (row.cancelled) return { kind: 'already_cancelled' };
      if (row.seq !== null) return { kind: 'already_released' };
      markCancelled.run(now(), row.pos);
      return { kind: 'cancelled', event: toStored({ ...row, cancelled: 1 }) };
    });
    const selectNextDue = db.prepare<[], { timestamp: number }>(
      'SELECT timestamp FROM events WHERE seq IS NULL AND cancelled = 0 ORDER BY timestamp, pos LIMIT 1',
    );

    this.events = {
      append: (event) => this.batcher.submit(event),
      onAppendRelease: (sink) => {
        this.releaseSink = sink;
      },
      releaseDue: async (at, limit) => releaseDue.immediate(at, limit),
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
      cancel: async (id, userId) => cancel.immediate(id, userId),
      nextDueAt: async () => selectNextDue.get()?.timestamp,
    };
  }

  async ping(): Promise<void> {
    if (this.closed) throw new Error('store is closed');
    this.db.prepare('SELECT 1').get();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    await this.batcher.drain();
    this.closed = true;
    this.db.close();
  }
}

function prefixed(alias: string): string {
  return EVENT_COLUMNS.split(', ')
    .map((c) => `${alias}.${c}`)
    .join(', ');
}

function toStored(row: EventRow): StoredEvent {
  return {
    id: row.id,
    userId: row.user_id,
    event: row.event,
    timestamp: row.timestamp,
    data: row.data,
    published: row.seq !== null,
    cancelled: row.cancelled === 1,
    seq: row.seq ?? undefined,
  };
}

function toReleased(row: EventRow): ReleasedEvent {
  return {
    seq: row.seq as number,
    id: row.id,
    event: row.event,
    timestamp: row.timestamp,
    data: row.data,
    insertedAt: row.inserted_at,
    releasedAt: row.released_at as number,
  };
}
