import type { ReleasedEvent, StoredEvent } from '../store.js';

/** A row of `events` as better-sqlite3 returns it. */
export interface EventRow {
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

export const EVENT_COLUMNS = 'pos, id, user_id, event, timestamp, data, inserted_at, seq, released_at, cancelled';

export function prefixedColumns(alias: string): string {
  return EVENT_COLUMNS.split(', ')
    .map((c) => `${alias}.${c}`)
    .join(', ');
}

export function toStored(row: EventRow): StoredEvent {
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

export function toReleased(row: EventRow): ReleasedEvent {
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
