import type { SqliteConnection } from './open-sqlite.js';
import type { AppendBatch, CancelResult, NewEvent, ReleasedEvent } from '../store.js';
import { EVENT_COLUMNS, type EventRow, releasedRow, toStored } from './sqlite-rows.js';
import { type SqliteRetentionWrites, sqliteRetentionWrites } from './sqlite-retention-writes.js';
import { type SqliteUserWrites, sqliteUserWrites } from './sqlite-user-writes.js';

/** What became of one batch of an append transaction. */
export type BatchResult =
  /** Stored: the seq each event got, in order; null for one left pending. */
  | { readonly kind: 'stored'; readonly seqs: (number | null)[] }
  /** Its idempotency key was there already: nothing stored; the first answer. */
  | { readonly kind: 'duplicate'; readonly hash: string; readonly response: string };

/** What one append transaction did. */
export interface AppendResult {
  /** Everything the transaction released (the batches' due items and stored ones), in seq order. */
  readonly released: ReleasedEvent[];
  /** One per batch, in order. */
  readonly batches: BatchResult[];
}

/**
 * Every write of the embedded store, as synchronous transactions on one connection. Times come
 * in as arguments (epoch s) so that the caller's clock rules, wherever these run.
 */
export interface SqliteWrites extends SqliteUserWrites, SqliteRetentionWrites {
  /** Inserts the batches (but those whose key exists) and releases what is due by `at`, in one transaction. */
  append(batches: readonly AppendBatch[], at: number, releaseLimit: number): AppendResult;
  pruneIdempotencyKeys(now: number): number;
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
      return releasedRow(row, seq++, at);
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
  const upsertKey = db.prepare<[string, string, string, string, number, number]>(
    `INSERT INTO idempotency_keys (user_id, key, hash, response, expires_at) VALUES (?, ?, ?, ?, ?)
     ON CONFLICT (user_id, key) DO UPDATE SET hash = excluded.hash, response = excluded.response, expires_at = excluded.expires_at
     WHERE idempotency_keys.expires_at <= ?`,
  );
  const selectKey = db.prepare<[string, string], { hash: string; response: string }>(
    'SELECT hash, response FROM idempotency_keys WHERE user_id = ? AND key = ?',
  );
  const deleteExpiredKeys = db.prepare<[number]>('DELETE FROM idempotency_keys WHERE expires_at <= ?');

  /**
   * A batch with a key first records it (one row, or the refresh of an expired one); a key that
   * is there already makes the batch a duplicate: its events are not stored. Two batches of one
   * transaction with the same key: the first is stored, the second is its duplicate.
   */
  const append = db.transaction((batches: readonly AppendBatch[], at: number, releaseLimit: number): AppendResult => {
    const results: BatchResult[] = [];
    const items: NewEvent[] = [];
    for (const b of batches) {
      if (b.key) {
        const k = b.key;
        if (upsertKey.run(k.userId, k.key, k.hash, k.response, k.expiresAt, at).changes === 0) {
          const first = selectKey.get(k.userId, k.key) as { hash: string; response: string };
          results.push({ kind: 'duplicate', hash: first.hash, response: first.response });
          continue;
        }
      }
      results.push({ kind: 'stored', seqs: [] });
      for (const e of b.events) items.push(e);
    }
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
        released.push(releasedRow(row, seq, at));
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
    let offset = 0;
    const out = results.map((r, k): BatchResult => {
      if (r.kind === 'duplicate') return r;
      const n = (batches[k] as AppendBatch).events.length;
      return { kind: 'stored', seqs: seqs.slice(offset, (offset += n)) };
    });
    return { released, batches: out };
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
    append: (batches, at, releaseLimit) => append.immediate(batches, at, releaseLimit),
    pruneIdempotencyKeys: (now) => deleteExpiredKeys.run(now).changes,
    releaseDue: (at, limit) => releaseDue.immediate(at, limit),
    cancel: (id, userId, asAdmin, at) => cancel.immediate(id, userId, asAdmin, at),
  };
}
