import type { SqliteConnection } from './open-sqlite.js';
import type { CancelResult, NewEvent, ReleasedEvent } from '../store.js';
import { EVENT_COLUMNS, type EventRow, toReleased, toStored } from './sqlite-rows.js';
import { type SqliteRetentionWrites, sqliteRetentionWrites } from './sqlite-retention-writes.js';
import { type SqliteUserWrites, sqliteUserWrites } from './sqlite-user-writes.js';

/** What one append transaction did. */
export interface AppendResult {
  /** Everything the transaction released (the batch's due items and stored ones), in seq order. */
  readonly released: ReleasedEvent[];
  /** The seq each item got, in item order; null for an item left pending. */
  readonly seqs: (number | null)[];
}

/**
 * Every write of the embedded store, as synchronous transactions on one connection. Times come
 * in as arguments (epoch s) so that the caller's clock rules, wherever these run.
 */
export interface SqliteWrites extends SqliteUserWrites, SqliteRetentionWrites {
  /** Inserts the batch and releases what is due by `at`, in one transaction. */
  append(items: readonly NewEvent[], at: number, releaseLimit: number): AppendResult;
  releaseDue(at: number, limit: number): ReleasedEvent[];
  cancel(id: string, userId: string, asAdmin: boolean, at: number): CancelResult;
}

export function sqliteWrites(db: SqliteConnection): SqliteWrites {
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
  const nextSeq = (): number => (selectMaxSeq.get()?.seq ?? 0) + 1;
  /** One upsert per name: the newest (timestamp, then seq) of what this transaction released. */
  const updateLatest = (released: readonly ReleasedEvent[]): void => {
    const newest = new Map<string, ReleasedEvent>();
    for (const r of released) {
      const seen = newest.get(r.event);
      if (!seen || r.timestamp > seen.timestamp || (r.timestamp === seen.timestamp && r.seq > seen.seq)) {
        newest.set(r.event, r);
      }
    }
    for (const r of newest.values()) upsertLatest.run(r.event, r.seq, r.timestamp);
  };
  const releaseRows = (at: number, limit: number): ReleasedEvent[] => {
    let seq = nextSeq();
    const released = selectDue.all(at, limit).map((row) => {
      markReleased.run(seq, at, row.pos);
      return toReleased({ ...row, seq: seq++, released_at: at });
    });
    updateLatest(released);
    return released;
  };
  const releaseDue = db.transaction(releaseRows);

  const insertEvent = db.prepare(
    'INSERT INTO events (id, user_id, event, timestamp, data, inserted_at, seq, released_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
  );
  /**
   * One transaction, one fsync: the batch's rows, and the release of whatever is due by then.
   * The release order is (timestamp, pos) over every due row; the batch's rows come after every
   * stored row in pos order, so that order is a merge of the stored due rows (one index probe,
   * usually none) with the batch's due items (a stable sort keeps their order on equal
   * timestamps). A due item gets its seq as it is written: one row write instead of an insert
   * into the pending index followed by an update out of it.
   */
  const append = db.transaction((items: readonly NewEvent[], at: number, releaseLimit: number): AppendResult => {
    const stored = selectDue.all(at, releaseLimit);
    const fresh = items.filter((e) => e.timestamp <= at).sort((a, b) => a.timestamp - b.timestamp);
    const seqOf = new Map<NewEvent, number>();
    const released: ReleasedEvent[] = [];
    let seq = stored.length + fresh.length > 0 ? nextSeq() : 0;
    let i = 0;
    let j = 0;
    while (released.length < releaseLimit && (i < stored.length || j < fresh.length)) {
      const row = stored[i];
      const item = fresh[j];
      if (row && (!item || row.timestamp <= item.timestamp)) {
        markReleased.run(seq, at, row.pos);
        released.push(toReleased({ ...row, seq, released_at: at }));
        i++;
      } else if (item) {
        seqOf.set(item, seq);
        released.push({ seq, id: item.id, event: item.event, timestamp: item.timestamp, data: item.data, insertedAt: at, releasedAt: at });
        j++;
      }
      seq++;
    }
    const seqs = items.map((e) => {
      const s = seqOf.get(e) ?? null;
      insertEvent.run(e.id, e.userId, e.event, e.timestamp, e.data, at, s, s === null ? null : at);
      return s;
    });
    updateLatest(released);
    return { released, seqs };
  });

  const selectById = db.prepare<[string], EventRow>(`SELECT ${EVENT_COLUMNS} FROM events WHERE id = ?`);
  const markCancelled = db.prepare('UPDATE events SET cancelled = 1, cancelled_at = ? WHERE pos = ?');
  const cancel = db.transaction((id: string, userId: string, asAdmin: boolean, at: number): CancelResult => {
    const row = selectById.get(id);
    if (!row) return { kind: 'not_found' };
    if (row.user_id !== userId && !asAdmin) return { kind: 'forbidden' };
    if (row.cancelled) return { kind: 'already_cancelled' };
    if (row.seq !== null) return { kind: 'already_released' };
    markCancelled.run(at, row.pos);
    return { kind: 'cancelled', event: toStored({ ...row, cancelled: 1 }) };
  });

  return {
    ...sqliteUserWrites(db),
    ...sqliteRetentionWrites(db),
    append: (items, at, releaseLimit) => append.immediate(items, at, releaseLimit),
    releaseDue: (at, limit) => releaseDue.immediate(at, limit),
    cancel: (id, userId, asAdmin, at) => cancel.immediate(id, userId, asAdmin, at),
  };
}
