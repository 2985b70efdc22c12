import type { Sql } from 'postgres';
import type { RetentionStore } from '../store.js';
import { guarded } from './guarded.js';

/** Retention on PostgreSQL: the same rules as SQLite's (sqlite-retention-writes.ts), one transaction per call. */
export function postgresRetention(sql: Sql): RetentionStore {
  return {
    pruneName: (name, keep, limit) =>
      guarded(() =>
        sql.begin(async (tx) => {
          const [protect] = await tx<{ latest: string | null; top: string | null }[]>`
            SELECT (SELECT seq FROM latest WHERE event = ${name}) AS latest, (SELECT seq FROM release_counter WHERE id = 1) AS top`;
          const kept = new Set([protect?.latest ?? undefined, protect?.top ?? undefined].filter((x) => x !== undefined).map(Number));
          const doomed = new Set<string>();
          let more = false;
          if (keep.versions !== undefined) {
            const rows = await tx<{ pos: string; seq: string }[]>`
              SELECT pos, seq FROM events WHERE event = ${name} AND seq IS NOT NULL
              ORDER BY seq DESC LIMIT ${limit} OFFSET ${keep.versions}`;
            more ||= rows.length === limit;
            for (const r of rows) if (!kept.has(Number(r.seq))) doomed.add(r.pos);
            const cancelled = await tx<{ pos: string }[]>`
              SELECT pos FROM events WHERE event = ${name} AND cancelled
              ORDER BY cancelled_at DESC, pos DESC LIMIT ${limit} OFFSET ${keep.versions}`;
            more ||= cancelled.length === limit;
            for (const r of cancelled) doomed.add(r.pos);
          }
          if (keep.before !== undefined) {
            const oldest = await tx<{ pos: string; seq: string; released_at: number }[]>`
              SELECT pos, seq, released_at FROM events WHERE event = ${name} AND seq IS NOT NULL ORDER BY seq LIMIT ${limit}`;
            let old = 0;
            while (old < oldest.length && (oldest[old]?.released_at ?? Infinity) < keep.before) old++;
            more ||= old === limit;
            for (const r of oldest.slice(0, old)) if (!kept.has(Number(r.seq))) doomed.add(r.pos);
            const cancelled = await tx<{ pos: string }[]>`
              SELECT pos FROM events WHERE event = ${name} AND cancelled AND cancelled_at < ${keep.before} LIMIT ${limit}`;
            more ||= cancelled.length === limit;
            for (const r of cancelled) doomed.add(r.pos);
          }
          if (doomed.size > 0) await tx`DELETE FROM events WHERE pos = ANY(${tx.array([...doomed])}::bigint[])`;
          return { deleted: doomed.size, more: more && doomed.size > 0 };
        }),
      ),
    names: (after, limit) =>
      guarded(async () => {
        // COLLATE "C": the byte order SQLite uses too, and the primary key's index serves it.
        const rows = await sql<{ event: string }[]>`
          SELECT event FROM latest WHERE event COLLATE "C" > ${after} ORDER BY event COLLATE "C" LIMIT ${limit}`;
        return rows.map((r) => r.event);
      }),
    releasedAfter: (afterSeq, limit) =>
      guarded(async () => {
        const rows = await sql<{ seq: string; event: string; released_at: number }[]>`
          SELECT seq, event, released_at FROM events WHERE seq > ${afterSeq} ORDER BY seq LIMIT ${limit}`;
        return rows.map((r) => ({ seq: Number(r.seq), event: r.event, releasedAt: r.released_at }));
      }),
  };
}
