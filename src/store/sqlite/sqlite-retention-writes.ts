import type { SqliteConnection } from './open-sqlite.js';
import type { KeepLimits } from '../store.js';

export interface SqliteRetentionWrites {
  pruneName(name: string, keep: KeepLimits, limit: number): { deleted: number; more: boolean };
  /** Counts and size, read on the writer's thread so that a pass over an index never blocks the event loop. */
  stats(): { pages: number; pageSize: number; pending: number; released: number; cancelled: number; oldestPendingDue: number | null };
}

/** Retention's deletes, one bounded transaction each, on the writer's connection. */
export function sqliteRetentionWrites(db: SqliteConnection): SqliteRetentionWrites {
  // Released versions beyond the newest N, newest first (events_name_seq, backwards).
  const releasedBeyond = db.prepare<[string, number, number], { pos: number; seq: number }>(
    'SELECT pos, seq FROM events WHERE event = ? AND seq IS NOT NULL ORDER BY seq DESC LIMIT ? OFFSET ?',
  );
  // The oldest released versions (release order is release-time order): the caller keeps the
  // prefix released before the limit.
  const releasedOldest = db.prepare<[string, number], { pos: number; seq: number; released_at: number }>(
    'SELECT pos, seq, released_at FROM events WHERE event = ? AND seq IS NOT NULL ORDER BY seq LIMIT ?',
  );
  const cancelledBeyond = db.prepare<[string, number, number], { pos: number }>(
    'SELECT pos FROM events WHERE event = ? AND cancelled = 1 ORDER BY cancelled_at DESC, pos DESC LIMIT ? OFFSET ?',
  );
  const cancelledBefore = db.prepare<[string, number, number], { pos: number }>(
    'SELECT pos FROM events WHERE event = ? AND cancelled = 1 AND cancelled_at < ? LIMIT ?',
  );
  const latestSeq = db.prepare<[string], { seq: number }>('SELECT seq FROM latest WHERE event = ?');
  const maxSeq = db.prepare<[], { seq: number | null }>('SELECT max(seq) AS seq FROM events');
  const remove = db.prepare('DELETE FROM events WHERE pos = ?');

  const pruneName = db.transaction((name: string, keep: KeepLimits, limit: number) => {
    // Never the name's latest (the snapshot), never the highest seq (where the sequence resumes).
    const kept = new Set([latestSeq.get(name)?.seq, maxSeq.get()?.seq ?? undefined]);
    const doomed = new Set<number>();
    let more = false;
    if (keep.versions !== undefined) {
      const rows = releasedBeyond.all(name, limit, keep.versions);
      more ||= rows.length === limit;
      for (const r of rows) if (!kept.has(r.seq)) doomed.add(r.pos);
      const cancelled = cancelledBeyond.all(name, limit, keep.versions);
      more ||= cancelled.length === limit;
      for (const r of cancelled) doomed.add(r.pos);
    }
    if (keep.before !== undefined) {
      const oldest = releasedOldest.all(name, limit);
      let old = 0;
      while (old < oldest.length && (oldest[old]?.released_at ?? Infinity) < keep.before) old++;
      more ||= old === limit;
      for (const r of oldest.slice(0, old)) if (!kept.has(r.seq)) doomed.add(r.pos);
      const cancelled = cancelledBefore.all(name, keep.before, limit);
      more ||= cancelled.length === limit;
      for (const r of cancelled) doomed.add(r.pos);
    }
    for (const pos of doomed) remove.run(pos);
    return { deleted: doomed.size, more: more && doomed.size > 0 };
  });

  const count = (where: string) => db.prepare<[], { n: number }>(`SELECT count(*) AS n FROM events WHERE ${where}`);
  // Each WHERE matches a partial index, so each count reads that index only.
  const pending = count('seq IS NULL AND cancelled = 0');
  const released = count('seq IS NOT NULL');
  const cancelled = count('cancelled = 1');
  const pageCount = db.prepare<[], number>('PRAGMA page_count').pluck();
  const pageSize = db.prepare<[], number>('PRAGMA page_size').pluck();
  const oldest = db.prepare<[], { timestamp: number }>(
    'SELECT timestamp FROM events WHERE seq IS NULL AND cancelled = 0 ORDER BY timestamp, pos LIMIT 1',
  );

  return {
    pruneName: (name, keep, limit) => pruneName.immediate(name, keep, limit),
    stats: () => ({
      pages: pageCount.get() ?? 0,
      pageSize: pageSize.get() ?? 4096,
      pending: pending.get()?.n ?? 0,
      released: released.get()?.n ?? 0,
      cancelled: cancelled.get()?.n ?? 0,
      oldestPendingDue: oldest.get()?.timestamp ?? null,
    }),
  };
}
