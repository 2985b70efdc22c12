import type { SqliteConnection } from './open-sqlite.js';

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
];

export function migrate(db: SqliteConnection): void {
  const current = db.prepare<[], number>('PRAGMA user_version').pluck().get() ?? 0;
  if (current > migrations.length) {
    throw new Error(
      `database schema version ${current} is newer than this Broker knows (${migrations.length}); upgrade Broker`,
    );
  }
  for (let version = current; version < migrations.length; version++) {
    db.transaction(() => {
      db.exec(migrations[version] as string);
      db.exec(`PRAGMA user_version = ${version + 1}`);
    }).immediate();
  }
}
