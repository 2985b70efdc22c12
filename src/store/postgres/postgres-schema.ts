import type { Sql } from 'postgres';
import { StorageOpenError } from '../storage-health.js';

/** Advisory lock keys (arbitrary, fixed): migrations, releases, auth changes. */
export const MIGRATION_LOCK = 7_261_901;
export const RELEASE_LOCK = 7_261_902;
/** Serialises auth change log appends (ids in commit order) and last-admin checks. */
export const AUTH_LOCK = 7_261_903;
/** NOTIFY channels: a release's last seq; a due time to wake other nodes' timers ('' = recompute). */
export const RELEASED_CHANNEL = 'broker_released';
export const WAKE_CHANNEL = 'broker_wake';
/** NOTIFY channel of the auth change log: the id of a new entry (tokens or a session revoked). */
export const AUTH_CHANNEL = 'broker_auth';

/**
 * Versioned schema. Applied at start-up under an advisory lock, so several nodes starting at
 * once apply each migration exactly once; broker_migrations records what is applied. Never edit
 * a shipped migration: add the next one.
 */
const migrations: readonly string[] = [
  `
  CREATE TABLE users (
    id            text PRIMARY KEY,
    username      text NOT NULL,
    username_key  text NOT NULL UNIQUE,   -- case-folded: uniqueness ignores case
    password_hash text NOT NULL,
    info          text NOT NULL,
    created_at    double precision NOT NULL
  );

  CREATE TABLE events (
    pos          bigserial PRIMARY KEY,   -- insertion order, ties of equal timestamps
    id           text NOT NULL UNIQUE,
    user_id      text NOT NULL,
    event        text NOT NULL,
    timestamp    double precision NOT NULL,   -- epoch seconds at which it is released
    data         text NOT NULL,               -- compact JSON, never parsed by Broker
    inserted_at  double precision NOT NULL,
    seq          bigint UNIQUE,               -- release sequence; NULL until released
    released_at  double precision,
    cancelled    boolean NOT NULL DEFAULT false,
    cancelled_at double precision
  );
  CREATE INDEX events_pending ON events (timestamp, pos) WHERE seq IS NULL AND NOT cancelled;
  CREATE INDEX events_history ON events (event, timestamp, pos);
  CREATE INDEX events_name_seq ON events (event, seq) WHERE seq IS NOT NULL;

  -- Per name, the seq of its latest released version (newest timestamp, ties by seq).
  CREATE TABLE latest (
    event     text PRIMARY KEY,
    seq       bigint NOT NULL,
    timestamp double precision NOT NULL
  );
  CREATE INDEX latest_seq ON latest (seq);

  -- The release sequence: one row, advanced inside the release transaction (gapless: a rolled
  -- back release gives its numbers back).
  CREATE TABLE release_counter (
    id  integer PRIMARY KEY CHECK (id = 1),
    seq bigint NOT NULL
  );
  INSERT INTO release_counter (id, seq) VALUES (1, 0);

  -- A generated JWT secret shared by every node when SECRET is not set (development only).
  CREATE TABLE broker_secret (
    id     integer PRIMARY KEY CHECK (id = 1),
    secret text NOT NULL
  );
  `,
  `
  -- Access: roles (a JSON list of names), disabling, and the token generation (tokens issued at
  -- an older generation are refused).
  ALTER TABLE users ADD COLUMN roles text NOT NULL DEFAULT '[]';
  ALTER TABLE users ADD COLUMN disabled boolean NOT NULL DEFAULT false;
  ALTER TABLE users ADD COLUMN gen integer NOT NULL DEFAULT 0;

  -- A login session; ended by logout, a password change, disabling, or a reused refresh token.
  CREATE TABLE sessions (
    id         text PRIMARY KEY,
    user_id    text NOT NULL,
    created_at double precision NOT NULL,
    ended_at   double precision
  );
  CREATE INDEX sessions_user ON sessions (user_id);

  -- Refresh tokens by their SHA-256 (never the token); a spent one is kept until it expires so
  -- that presenting it again is recognised as theft and ends its session.
  CREATE TABLE refresh_tokens (
    hash       text PRIMARY KEY,
    session_id text NOT NULL,
    expires_at double precision NOT NULL,
    spent_at   double precision
  );
  CREATE INDEX refresh_tokens_session ON refresh_tokens (session_id);
  CREATE INDEX refresh_tokens_expires ON refresh_tokens (expires_at);

  -- What every node must hear within a second (NOTIFY broker_auth carries the id).
  CREATE TABLE auth_changes (
    id         bigserial PRIMARY KEY,
    at         double precision NOT NULL,
    user_id    text NOT NULL,
    gen        integer,
    session_id text
  );
  CREATE INDEX auth_changes_at ON auth_changes (at);

  -- GET /me/pending: a user's pending events in timestamp order.
  CREATE INDEX events_user_pending ON events (user_id, timestamp, pos) WHERE seq IS NULL AND NOT cancelled;
  `,
  `
  -- Retention: a name's cancelled versions by age (released ones go through events_name_seq).
  CREATE INDEX events_name_cancelled ON events (event, cancelled_at, pos) WHERE cancelled;
  `,
];

export async function migrate(sql: Sql): Promise<void> {
  await sql.begin(async (tx) => {
    // Transaction-scoped: released at commit or rollback, even if this node dies.
    await tx`SELECT pg_advisory_xact_lock(${MIGRATION_LOCK})`;
    await tx`CREATE TABLE IF NOT EXISTS broker_migrations (
      version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`;
    const [row] = await tx<{ version: number | null }[]>`SELECT max(version) AS version FROM broker_migrations`;
    const current = row?.version ?? 0;
    if (current > migrations.length) {
      throw new StorageOpenError(
        `its schema version ${current} is newer than this Broker knows (${migrations.length}): it was written by a newer Broker; upgrade Broker`,
      );
    }
    for (let version = current; version < migrations.length; version++) {
      await tx.unsafe(migrations[version] as string);
      await tx`INSERT INTO broker_migrations (version) VALUES (${version + 1})`;
    }
  });
}
