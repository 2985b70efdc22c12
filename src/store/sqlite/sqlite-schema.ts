import type { SqliteConnection } from './open-sqlite.js';
import { StorageOpenError } from '../storage-health.js';

/**
 * Versioned schema, applied in order at start-up; PRAGMA user_version records the last one.
 * Never edit a migration that has shipped: add the next one.
 */
const migrations: readonly string[] = [
  `
  CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    username      TEXT NOT NULL,
    username_key  TEXT NOT NULL UNIQUE, -- case-folded username: uniqueness ignores case
    password_hash TEXT NOT NULL,
    info          TEXT NOT NULL,
    created_at    REAL NOT NULL
  ) STRICT;

  CREATE TABLE events (
    pos          INTEGER PRIMARY KEY,   -- insertion order, ties of equal timestamps
    id           TEXT NOT NULL UNIQUE,
    user_id      TEXT NOT NULL,
    event        TEXT NOT NULL,
    timestamp    REAL NOT NULL,         -- epoch seconds at which it is released
    data         TEXT NOT NULL,         -- compact JSON, never parsed by Broker
    inserted_at  REAL NOT NULL,
    seq          INTEGER UNIQUE,        -- release sequence; NULL until released
    released_at  REAL,
    cancelled    INTEGER NOT NULL DEFAULT 0,
    cancelled_at REAL
  ) STRICT;

  -- The scheduler's queue: only pending rows, so the next due time is one index probe.
  CREATE INDEX events_pending ON events (timestamp, pos) WHERE seq IS NULL AND cancelled = 0;
  -- GET /events/{event}: all versions of a name in timestamp order.
  CREATE INDEX events_history ON events (event, timestamp, pos);
  -- Resume with a name filter: released rows of some names after a seq.
  CREATE INDEX events_name_seq ON events (event, seq) WHERE seq IS NOT NULL;

  -- The snapshot: for each name, the seq of its latest released version (newest timestamp,
  -- ties by seq). Maintained at release so a connect reads one row per name, never a scan.
  CREATE TABLE latest (
    event     TEXT PRIMARY KEY,
    seq       INTEGER NOT NULL,
    timestamp REAL NOT NULL
  ) STRICT;
  CREATE INDEX latest_seq ON latest (seq);
  `,
  `
  -- Access: roles (a JSON list of names), disabling, and the token generation (tokens issued at
  -- an older generation are refused).
  ALTER TABLE users ADD COLUMN roles TEXT NOT NULL DEFAULT '[]';
  ALTER TABLE users ADD COLUMN disabled INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE users ADD COLUMN gen INTEGER NOT NULL DEFAULT 0;

  -- A login session; ended by logout, a password change, disabling, or a reused refresh token.
  CREATE TABLE sessions (
    id         TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL,
    created_at REAL NOT NULL,
    ended_at   REAL
  ) STRICT;
  CREATE INDEX sessions_user ON sessions (user_id);

  -- Refresh tokens by their SHA-256 (never the token). A spent one is kept until it expires so
  -- that presenting it again is recognised as theft and ends its session.
  CREATE TABLE refresh_tokens (
    hash       TEXT PRIMARY KEY,
    session_id TEXT NOT NULL,
    expires_at REAL NOT NULL,
    spent_at   REAL
  ) STRICT;
  CREATE INDEX refresh_tokens_session ON refresh_tokens (session_id);
  CREATE INDEX refresh_tokens_expires ON refresh_tokens (expires_at);

  -- What every node must hear within a second: tokens of a user older than a generation, or a
  -- session, are revoked. AUTOINCREMENT: a pruned id is never handed out again, so a node's
  -- cursor cannot skip a new entry.
  CREATE TABLE auth_changes (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    at         REAL NOT NULL,
    user_id    TEXT NOT NULL,
    gen        INTEGER,
    session_id TEXT
  ) STRICT;
  CREATE INDEX auth_changes_at ON auth_changes (at);

  -- GET /me/pending: a user's pending events in timestamp order.
  CREATE INDEX events_user_pending ON events (user_id, timestamp, pos) WHERE seq IS NULL AND cancelled = 0;
  `,
  `
  -- Retention: a name's cancelled versions by age (cancels are rare: a small index, and inserts
  -- never touch it). Released versions are found through events_name_seq.
  CREATE INDEX events_name_cancelled ON events (event, cancelled_at, pos) WHERE cancelled = 1;
  `,
  `
  -- Idempotent inserts: a key per user, written in the commit of the events it stands for.
  CREATE TABLE idempotency_keys (
    user_id    TEXT NOT NULL,
    key        TEXT NOT NULL,
    hash       TEXT NOT NULL,   -- of the request body
    response   TEXT NOT NULL,   -- the answer, sent again to a retry
    expires_at REAL NOT NULL,
    PRIMARY KEY (user_id, key)
  ) STRICT, WITHOUT ROWID;
  CREATE INDEX idempotency_keys_expires ON idempotency_keys (expires_at);
  `,
];

export function migrate(db: SqliteConnection): void {
  const current = db.prepare<[], number>('PRAGMA user_version').pluck().get() ?? 0;
  if (current > migrations.length) {
    throw new StorageOpenError(
      `its schema version ${current} is newer than this Broker knows (${migrations.length}): it was written by a newer Broker; upgrade Broker`,
    );
  }
  for (let version = current; version < migrations.length; version++) {
    db.transaction(() => {
      db.exec(migrations[version] as string);
      db.exec(`PRAGMA user_version = ${version + 1}`);
    }).immediate();
  }
}
