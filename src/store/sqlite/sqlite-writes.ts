import type { Database } from 'better-sqlite3';
import { usernameKey } from '../../lib/username-key.js';
import type { CancelResult, NewEvent, ReleasedEvent, User } from '../store.js';
import { EVENT_COLUMNS, type EventRow, toReleased, toStored } from './sqlite-rows.js';

/**
 * Every write of the embedded store, as synchronous transactions on one connection. Times come
 * in as arguments (epoch s) so that the caller's clock rules, wherever these run.
 */
export interface SqliteWrites {
  /** Inserts the batch; returns what the same transaction released (the batch's and others'). */
  append(items: readonly NewEvent[], at: number, releaseLimit: number): ReleasedEvent[];
  releaseDue(at: number, limit: number): ReleasedEvent[];
  cancel(id: string, userId: string, at: number): CancelResult;
  createUser(user: User, at: number): 'created' | 'taken';
}

export function sqliteWrites(db: Database): SqliteWrites {
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
  // SQLite has one writer, so max(seq)+1 inside the transaction is gapless and commit order is seq order.
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
  const append = db.transaction((items: readonly NewEvent[], at: number, releaseLimit: number) => {
    let due = false;
    for (const e of items) {
      insertEvent.run(e.id, e.userId, e.event, e.timestamp, e.data, at);
      if (e.timestamp <= at) due = true;
    }
    return due ? releaseRows(at, releaseLimit) : [];
  });

  const selectById = db.prepare<[string], EventRow>(`SELECT ${EVENT_COLUMNS} FROM events WHERE id = ?`);
  const markCancelled = db.prepare('UPDATE events SET cancelled = 1, cancelled_at = ? WHERE pos = ?');
  const cancel = db.transaction((id: string, userId: string, at: number): CancelResult => {
    const row = selectById.get(id);
    if (!row) return { kind: 'not_found' };
    if (row.user_id !== userId) return { kind: 'forbidden' };
    if (row.cancelled) return { kind: 'already_cancelled' };
    if (row.seq !== null) return { kind: 'already_released' };
    markCancelled.run(at, row.pos);
    return { kind: 'cancelled', event: toStored({ ...row, cancelled: 1 }) };
  });

  const insertUser = db.prepare(
    'INSERT INTO users (id, username, username_key, password_hash, info, created_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (username_key) DO NOTHING',
  );

  return {
    append: (items, at, releaseLimit) => append.immediate(items, at, releaseLimit),
    releaseDue: (at, limit) => releaseDue.immediate(at, limit),
    cancel: (id, userId, at) => cancel.immediate(id, userId, at),
    createUser: (user, at) =>
      insertUser.run(user.id, user.username, usernameKey(user.username), user.passwordHash, user.info, at).changes === 1
        ? 'created'
        : 'taken',
  };
}
