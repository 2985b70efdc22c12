import type { AuthChange, ReleasedEvent, StoredEvent, User } from '../store.js';

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

/** A pending row as released now with `seq` (field by field: see storedEvent on why not a spread). */
export function releasedRow(row: EventRow, seq: number, at: number): ReleasedEvent {
  return { seq, id: row.id, event: row.event, timestamp: row.timestamp, data: row.data, insertedAt: row.inserted_at, releasedAt: at };
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

/** A row of `users` as better-sqlite3 returns it. */
export interface UserRow {
  id: string;
  username: string;
  password_hash: string;
  info: string;
  roles: string;
  disabled: number;
  gen: number;
  created_at: number;
}

export const USER_COLUMNS = 'id, username, password_hash, info, roles, disabled, gen, created_at';

export function toUser(row: UserRow): User {
  return {
    id: row.id,
    username: row.username,
    passwordHash: row.password_hash,
    info: row.info,
    roles: JSON.parse(row.roles) as string[],
    disabled: row.disabled === 1,
    gen: row.gen,
    createdAt: row.created_at,
  };
}

/** A row of `auth_changes`. */
export interface AuthChangeRow {
  id: number;
  at: number;
  user_id: string;
  gen: number | null;
  session_id: string | null;
}

export function toAuthChange(row: AuthChangeRow): AuthChange {
  return {
    id: row.id,
    at: row.at,
    userId: row.user_id,
    ...(row.gen === null ? {} : { gen: row.gen }),
    ...(row.session_id === null ? {} : { sessionId: row.session_id }),
  };
}
