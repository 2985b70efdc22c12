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
  `
  -- Idempotent inserts: a key per user, written in the commit of the events it stands for.
  CREATE TABLE idempotency_keys (
    user_id    text NOT NULL,
    key        text NOT NULL,
    hash       text NOT NULL,              -- of the request body
    response   text NOT NULL,              -- the answer, sent again to a retry
    expires_at double precision NOT NULL,
    PRIMARY KEY (user_id, key)
  );
  CREATE INDEX idempotency_keys_expires ON idempotency_keys (expires_at);

  -- The release, in one round trip: under the release lock (every node's releases in one order:
  -- a gapless sequence, commit order = seq order), the due rows in timestamp order get the next
  -- seqs of the one-row counter, latest follows, and the last seq is NOTIFYd at commit.
  CREATE FUNCTION broker_release(p_at double precision, p_limit integer)
  RETURNS TABLE (r_seq bigint, r_id text, r_event text, r_ts double precision, r_data text, r_inserted_at double precision)
  LANGUAGE plpgsql AS $fn$
  DECLARE
    due bigint[];
    base bigint;
  BEGIN
    PERFORM pg_advisory_xact_lock(${RELEASE_LOCK});
    -- FOR UPDATE: a cancel holding a row is waited for, and a row it cancelled is left out.
    SELECT array_agg(d.pos ORDER BY d.timestamp, d.pos) INTO due FROM (
      SELECT e.pos, e.timestamp FROM events e
      WHERE e.seq IS NULL AND NOT e.cancelled AND e.timestamp <= p_at
      ORDER BY e.timestamp, e.pos LIMIT p_limit FOR UPDATE) d;
    IF due IS NULL THEN RETURN; END IF;
    UPDATE release_counter c SET seq = c.seq + cardinality(due) WHERE c.id = 1 RETURNING c.seq - cardinality(due) INTO base;
    RETURN QUERY
      WITH u AS (
        UPDATE events e SET seq = base + n.ord, released_at = p_at
        FROM unnest(due) WITH ORDINALITY AS n(pos, ord) WHERE e.pos = n.pos
        RETURNING e.seq, e.id, e.event, e.timestamp, e.data, e.inserted_at)
      SELECT * FROM u ORDER BY 1;
    -- One row per name (an upsert may touch a row once): the batch's newest.
    INSERT INTO latest (event, seq, timestamp)
      SELECT DISTINCT ON (e.event) e.event, e.seq, e.timestamp FROM events e WHERE e.pos = ANY(due)
      ORDER BY e.event, e.timestamp DESC, e.seq DESC
    ON CONFLICT (event) DO UPDATE SET seq = excluded.seq, timestamp = excluded.timestamp
      WHERE excluded.timestamp > latest.timestamp
         OR (excluded.timestamp = latest.timestamp AND excluded.seq > latest.seq);
    -- Delivered at commit, so a listener never hears of a seq it cannot read yet.
    PERFORM pg_notify('${RELEASED_CHANNEL}', (base + cardinality(due))::text);
  END $fn$;

  -- A group commit in one round trip: the batches' idempotency keys (in (user, key) order, so two
  -- transactions never wait for each other's keys in opposite orders; a key there already makes
  -- its batch a duplicate, answered with the stored answer), their events in the given order,
  -- and the release of what is due.
  CREATE FUNCTION broker_append(
    p_ids text[], p_users text[], p_events text[], p_timestamps double precision[], p_data text[], p_batch integer[],
    p_key_batch integer[], p_key_users text[], p_keys text[], p_key_hashes text[], p_key_responses text[],
    p_key_expires double precision[], p_at double precision, p_limit integer)
  RETURNS TABLE (r_kind text, r_batch integer, r_seq bigint, r_id text, r_event text, r_ts double precision,
                 r_data text, r_inserted_at double precision, r_hash text, r_response text)
  LANGUAGE plpgsql AS $fn$
  DECLARE
    k record;
    skipped integer[] := '{}';
    got integer;
  BEGIN
    FOR k IN
      SELECT * FROM unnest(p_key_batch, p_key_users, p_keys, p_key_hashes, p_key_responses, p_key_expires)
        AS t(batch, user_id, key, hash, response, expires)
      ORDER BY t.user_id, t.key, t.batch
    LOOP
      -- A key being written by another transaction is waited for (the unique index), then seen.
      INSERT INTO idempotency_keys AS ik (user_id, key, hash, response, expires_at)
        VALUES (k.user_id, k.key, k.hash, k.response, k.expires)
        ON CONFLICT (user_id, key) DO UPDATE
          SET hash = excluded.hash, response = excluded.response, expires_at = excluded.expires_at
          WHERE ik.expires_at <= p_at;
      GET DIAGNOSTICS got = ROW_COUNT;
      IF got = 0 THEN
        skipped := skipped || k.batch;
        RETURN QUERY
          SELECT 'duplicate'::text, k.batch, NULL::bigint, NULL::text, NULL::text, NULL::double precision,
                 NULL::text, NULL::double precision, ik.hash, ik.response
          FROM idempotency_keys ik WHERE ik.user_id = k.user_id AND ik.key = k.key;
      END IF;
    END LOOP;
    INSERT INTO events (id, user_id, event, timestamp, data, inserted_at)
      SELECT t.id, t.user_id, t.event, t.ts, t.data, p_at
      FROM unnest(p_ids, p_users, p_events, p_timestamps, p_data, p_batch) WITH ORDINALITY
        AS t(id, user_id, event, ts, data, batch, ord)
      WHERE t.batch <> ALL (skipped)
      ORDER BY t.ord;
    IF EXISTS (SELECT 1 FROM unnest(p_timestamps, p_batch) AS t(ts, batch) WHERE t.ts <= p_at AND t.batch <> ALL (skipped)) THEN
      RETURN QUERY
        SELECT 'released'::text, NULL::integer, r.r_seq, r.r_id, r.r_event, r.r_ts, r.r_data, r.r_inserted_at, NULL::text, NULL::text
        FROM broker_release(p_at, p_limit) r;
    END IF;
  END $fn$;
  `,
  `
  -- PL/pgSQL caches a generic plan per statement, made the first times it runs: on a new
  -- database, when events holds a page or two, that plan is a sequential scan (or a bitmap scan
  -- and a hash join over all of events), and it stays cached while the table grows, so that every
  -- release reads the whole table (measured: 1.3 → 3.4 ms per single insert over the first 30,000
  -- with autovacuum off, and 150 inserts/s at 50,000 versions of one name). An ANALYZE would
  -- re-plan, but autovacuum may be off or behind. With these plan types off, the only plans left
  -- are index lookups, whatever the table's size when they were made: an ordered index scan of
  -- events_pending that stops at the limit (and marks the dead entries of released rows, which a
  -- bitmap scan never does) and nested loops over the primary key.
  ALTER FUNCTION broker_release(double precision, integer)
    SET enable_seqscan = off SET enable_bitmapscan = off SET enable_hashjoin = off SET enable_mergejoin = off;
  ALTER FUNCTION broker_append(text[], text[], text[], double precision[], text[], integer[], integer[], text[], text[],
                               text[], text[], double precision[], double precision, integer)
    SET enable_seqscan = off SET enable_bitmapscan = off SET enable_hashjoin = off SET enable_mergejoin = off;
  `,
  `
  -- A group commit writes its due events released: with their seqs, in one INSERT, instead of
  -- inserting them pending and then updating them (a second heap tuple and five more index
  -- entries per event, and entries in both pending indexes left dead). Under the release lock
  -- the overdue rows already stored (up to p_limit) and the batch's due events are merged in
  -- timestamp order (stored rows first on a tie: they were inserted earlier) and numbered from
  -- the counter. A backlog of p_limit overdue rows or more takes the earlier way (insert, then
  -- broker_release), so that no overdue row is released after a later one.
  CREATE OR REPLACE FUNCTION broker_append(
    p_ids text[], p_users text[], p_events text[], p_timestamps double precision[], p_data text[], p_batch integer[],
    p_key_batch integer[], p_key_users text[], p_keys text[], p_key_hashes text[], p_key_responses text[],
    p_key_expires double precision[], p_at double precision, p_limit integer)
  RETURNS TABLE (r_kind text, r_batch integer, r_seq bigint, r_id text, r_event text, r_ts double precision,
                 r_data text, r_inserted_at double precision, r_hash text, r_response text)
  LANGUAGE plpgsql
  SET enable_seqscan = off SET enable_bitmapscan = off SET enable_hashjoin = off SET enable_mergejoin = off
  AS $fn$
  DECLARE
    k record;
    skipped integer[] := '{}';
    got integer;
    overdue bigint[];
    fresh integer;
    base bigint;
    total integer;
  BEGIN
    FOR k IN
      SELECT * FROM unnest(p_key_batch, p_key_users, p_keys, p_key_hashes, p_key_responses, p_key_expires)
        AS t(batch, user_id, key, hash, response, expires)
      ORDER BY t.user_id, t.key, t.batch
    LOOP
      -- A key being written by another transaction is waited for (the unique index), then seen.
      INSERT INTO idempotency_keys AS ik (user_id, key, hash, response, expires_at)
        VALUES (k.user_id, k.key, k.hash, k.response, k.expires)
        ON CONFLICT (user_id, key) DO UPDATE
          SET hash = excluded.hash, response = excluded.response, expires_at = excluded.expires_at
          WHERE ik.expires_at <= p_at;
      GET DIAGNOSTICS got = ROW_COUNT;
      IF got = 0 THEN
        skipped := skipped || k.batch;
        RETURN QUERY
          SELECT 'duplicate'::text, k.batch, NULL::bigint, NULL::text, NULL::text, NULL::double precision,
                 NULL::text, NULL::double precision, ik.hash, ik.response
          FROM idempotency_keys ik WHERE ik.user_id = k.user_id AND ik.key = k.key;
      END IF;
    END LOOP;
    -- Events still ahead are stored pending, in the given order.
    INSERT INTO events (id, user_id, event, timestamp, data, inserted_at)
      SELECT t.id, t.user_id, t.event, t.ts, t.data, p_at
      FROM unnest(p_ids, p_users, p_events, p_timestamps, p_data, p_batch) WITH ORDINALITY
        AS t(id, user_id, event, ts, data, batch, ord)
      WHERE t.batch <> ALL (skipped) AND t.ts > p_at
      ORDER BY t.ord;
    SELECT count(*) INTO fresh FROM unnest(p_timestamps, p_batch) AS t(ts, batch)
      WHERE t.ts <= p_at AND t.batch <> ALL (skipped);
    IF fresh = 0 THEN RETURN; END IF;
    PERFORM pg_advisory_xact_lock(${RELEASE_LOCK});
    -- FOR UPDATE: a cancel holding a row is waited for, and a row it cancelled is left out.
    SELECT array_agg(d.pos ORDER BY d.timestamp, d.pos) INTO overdue FROM (
      SELECT e.pos, e.timestamp FROM events e
      WHERE e.seq IS NULL AND NOT e.cancelled AND e.timestamp <= p_at
      ORDER BY e.timestamp, e.pos LIMIT p_limit FOR UPDATE) d;
    IF coalesce(cardinality(overdue), 0) >= p_limit THEN
      INSERT INTO events (id, user_id, event, timestamp, data, inserted_at)
        SELECT t.id, t.user_id, t.event, t.ts, t.data, p_at
        FROM unnest(p_ids, p_users, p_events, p_timestamps, p_data, p_batch) WITH ORDINALITY
          AS t(id, user_id, event, ts, data, batch, ord)
        WHERE t.batch <> ALL (skipped) AND t.ts <= p_at
        ORDER BY t.ord;
      RETURN QUERY
        SELECT 'released'::text, NULL::integer, r.r_seq, r.r_id, r.r_event, r.r_ts, r.r_data, r.r_inserted_at, NULL::text, NULL::text
        FROM broker_release(p_at, p_limit) r;
      RETURN;
    END IF;
    total := coalesce(cardinality(overdue), 0) + fresh;
    UPDATE release_counter c SET seq = c.seq + total WHERE c.id = 1 RETURNING c.seq - total INTO base;
    RETURN QUERY
      WITH merged AS (
        SELECT 0 AS src, o.pos, NULL::bigint AS ord, e.timestamp AS ts, e.event,
               NULL::text AS id, NULL::text AS user_id, NULL::text AS data
        FROM unnest(overdue) AS o(pos) JOIN events e ON e.pos = o.pos
        UNION ALL
        SELECT 1, NULL::bigint, t.ord, t.ts, t.event, t.id, t.user_id, t.data
        FROM unnest(p_ids, p_users, p_events, p_timestamps, p_data, p_batch) WITH ORDINALITY
          AS t(id, user_id, event, ts, data, batch, ord)
        WHERE t.batch <> ALL (skipped) AND t.ts <= p_at),
      numbered AS (
        SELECT m.*, base + row_number() OVER (ORDER BY m.ts, m.src, m.pos, m.ord) AS seq FROM merged m),
      upd AS (
        UPDATE events e SET seq = n.seq, released_at = p_at FROM numbered n WHERE n.src = 0 AND e.pos = n.pos
        RETURNING e.seq, e.id, e.event, e.timestamp, e.data, e.inserted_at),
      ins AS (
        INSERT INTO events (id, user_id, event, timestamp, data, inserted_at, seq, released_at)
          SELECT n.id, n.user_id, n.event, n.ts, n.data, p_at, n.seq, p_at FROM numbered n WHERE n.src = 1 ORDER BY n.ord
        RETURNING seq, id, event, timestamp, data, inserted_at),
      -- One row per name (an upsert may touch a row once): the batch's newest.
      lat AS (
        INSERT INTO latest (event, seq, timestamp)
          SELECT DISTINCT ON (n.event) n.event, n.seq, n.ts FROM numbered n ORDER BY n.event, n.ts DESC, n.seq DESC
        ON CONFLICT (event) DO UPDATE SET seq = excluded.seq, timestamp = excluded.timestamp
          WHERE excluded.timestamp > latest.timestamp
             OR (excluded.timestamp = latest.timestamp AND excluded.seq > latest.seq))
      SELECT 'released'::text, NULL::integer, x.seq, x.id, x.event, x.timestamp, x.data, x.inserted_at, NULL::text, NULL::text
      FROM (SELECT * FROM upd UNION ALL SELECT * FROM ins) x ORDER BY x.seq;
    -- Delivered at commit, so a listener never hears of a seq it cannot read yet.
    PERFORM pg_notify('${RELEASED_CHANNEL}', (base + total)::text);
  END $fn$;
  `,
  `
  -- Plans made once per connection, and no statement run for nothing. PL/pgSQL re-plans a
  -- statement with its parameters (a custom plan) until the generic plan looks no dearer, and
  -- decides again whenever the cached plan is invalidated, as by every ANALYZE of events: a
  -- connection that decides on a grown table re-plans every statement on every call, for good.
  -- Measured (one connection, 16 events a call, asynchronous commit, backend CPU a call):
  -- 0.62 ms on a new table, 0.92-1.02 ms once it holds 16,000 rows; with 32 clients after an
  -- ANALYZE, 97-117 µs of PostgreSQL CPU per insert instead of 60-63. Generic plans are all index
  -- lookups here (the plan types above are off), whatever the table's size.
  -- And the common group commit (no idempotency key, every event due, nothing overdue) now runs
  -- six statements instead of eight: the key loop and the pending insert are skipped when they
  -- have nothing to do, and the due events are numbered and inserted in one INSERT with latest
  -- following it, without the merge and the UPDATE of overdue rows, whose plans open every index
  -- of events even for no row (0.56-0.62 ms a call against 0.70-0.74 with generic plans alone).
  CREATE OR REPLACE FUNCTION broker_append(
    p_ids text[], p_users text[], p_events text[], p_timestamps double precision[], p_data text[], p_batch integer[],
    p_key_batch integer[], p_key_users text[], p_keys text[], p_key_hashes text[], p_key_responses text[],
    p_key_expires double precision[], p_at double precision, p_limit integer)
  RETURNS TABLE (r_kind text, r_batch integer, r_seq bigint, r_id text, r_event text, r_ts double precision,
                 r_data text, r_inserted_at double precision, r_hash text, r_response text)
  LANGUAGE plpgsql
  SET enable_seqscan = off SET enable_bitmapscan = off SET enable_hashjoin = off SET enable_mergejoin = off
  SET plan_cache_mode = force_generic_plan
  AS $fn$
  DECLARE
    k record;
    skipped integer[] := '{}';
    got integer;
    overdue bigint[];
    ahead integer;
    fresh integer;
    base bigint;
    total integer;
  BEGIN
    IF cardinality(p_key_batch) > 0 THEN
      FOR k IN
        SELECT * FROM unnest(p_key_batch, p_key_users, p_keys, p_key_hashes, p_key_responses, p_key_expires)
          AS t(batch, user_id, key, hash, response, expires)
        ORDER BY t.user_id, t.key, t.batch
      LOOP
        -- A key being written by another transaction is waited for (the unique index), then seen.
        INSERT INTO idempotency_keys AS ik (user_id, key, hash, response, expires_at)
          VALUES (k.user_id, k.key, k.hash, k.response, k.expires)
          ON CONFLICT (user_id, key) DO UPDATE
            SET hash = excluded.hash, response = excluded.response, expires_at = excluded.expires_at
            WHERE ik.expires_at <= p_at;
        GET DIAGNOSTICS got = ROW_COUNT;
        IF got = 0 THEN
          skipped := skipped || k.batch;
          RETURN QUERY
            SELECT 'duplicate'::text, k.batch, NULL::bigint, NULL::text, NULL::text, NULL::double precision,
                   NULL::text, NULL::double precision, ik.hash, ik.response
            FROM idempotency_keys ik WHERE ik.user_id = k.user_id AND ik.key = k.key;
        END IF;
      END LOOP;
    END IF;
    SELECT count(*) FILTER (WHERE t.ts > p_at), count(*) FILTER (WHERE t.ts <= p_at) INTO ahead, fresh
      FROM unnest(p_timestamps, p_batch) AS t(ts, batch) WHERE t.batch <> ALL (skipped);
    -- Events still ahead are stored pending, in the given order.
    IF ahead > 0 THEN
      INSERT INTO events (id, user_id, event, timestamp, data, inserted_at)
        SELECT t.id, t.user_id, t.event, t.ts, t.data, p_at
        FROM unnest(p_ids, p_users, p_events, p_timestamps, p_data, p_batch) WITH ORDINALITY
          AS t(id, user_id, event, ts, data, batch, ord)
        WHERE t.batch <> ALL (skipped) AND t.ts > p_at
        ORDER BY t.ord;
    END IF;
    IF fresh = 0 THEN RETURN; END IF;
    PERFORM pg_advisory_xact_lock(${RELEASE_LOCK});
    -- FOR UPDATE: a cancel holding a row is waited for, and a row it cancelled is left out.
    SELECT array_agg(d.pos ORDER BY d.timestamp, d.pos) INTO overdue FROM (
      SELECT e.pos, e.timestamp FROM events e
      WHERE e.seq IS NULL AND NOT e.cancelled AND e.timestamp <= p_at
      ORDER BY e.timestamp, e.pos LIMIT p_limit FOR UPDATE) d;
    IF coalesce(cardinality(overdue), 0) >= p_limit THEN
      INSERT INTO events (id, user_id, event, timestamp, data, inserted_at)
        SELECT t.id, t.user_id, t.event, t.ts, t.data, p_at
        FROM unnest(p_ids, p_users, p_events, p_timestamps, p_data, p_batch) WITH ORDINALITY
          AS t(id, user_id, event, ts, data, batch, ord)
        WHERE t.batch <> ALL (skipped) AND t.ts <= p_at
        ORDER BY t.ord;
      RETURN QUERY
        SELECT 'released'::text, NULL::integer, r.r_seq, r.r_id, r.r_event, r.r_ts, r.r_data, r.r_inserted_at, NULL::text, NULL::text
        FROM broker_release(p_at, p_limit) r;
      RETURN;
    END IF;
    total := coalesce(cardinality(overdue), 0) + fresh;
    UPDATE release_counter c SET seq = c.seq + total WHERE c.id = 1 RETURNING c.seq - total INTO base;
    IF overdue IS NULL THEN
      -- Nothing overdue: the due events, numbered in timestamp order (ties in the given order),
      -- inserted released in the given order; latest gets each name's newest of them.
      RETURN QUERY
        WITH ins AS (
          INSERT INTO events (id, user_id, event, timestamp, data, inserted_at, seq, released_at)
            SELECT t.id, t.user_id, t.event, t.ts, t.data, p_at, base + row_number() OVER (ORDER BY t.ts, t.ord), p_at
            FROM unnest(p_ids, p_users, p_events, p_timestamps, p_data, p_batch) WITH ORDINALITY
              AS t(id, user_id, event, ts, data, batch, ord)
            WHERE t.batch <> ALL (skipped) AND t.ts <= p_at
            ORDER BY t.ord
          RETURNING seq, id, event, timestamp, data, inserted_at),
        lat AS (
          INSERT INTO latest (event, seq, timestamp)
            SELECT DISTINCT ON (i.event) i.event, i.seq, i.timestamp FROM ins i ORDER BY i.event, i.timestamp DESC, i.seq DESC
          ON CONFLICT (event) DO UPDATE SET seq = excluded.seq, timestamp = excluded.timestamp
            WHERE excluded.timestamp > latest.timestamp
               OR (excluded.timestamp = latest.timestamp AND excluded.seq > latest.seq))
        SELECT 'released'::text, NULL::integer, i.seq, i.id, i.event, i.timestamp, i.data, i.inserted_at, NULL::text, NULL::text
        FROM ins i ORDER BY i.seq;
    ELSE
      -- Overdue rows stored before: merged with the batch's due events in timestamp order
      -- (stored rows first on a tie: they were inserted earlier) and numbered from the counter.
      RETURN QUERY
        WITH merged AS (
          SELECT 0 AS src, o.pos, NULL::bigint AS ord, e.timestamp AS ts, e.event,
                 NULL::text AS id, NULL::text AS user_id, NULL::text AS data
          FROM unnest(overdue) AS o(pos) JOIN events e ON e.pos = o.pos
          UNION ALL
          SELECT 1, NULL::bigint, t.ord, t.ts, t.event, t.id, t.user_id, t.data
          FROM unnest(p_ids, p_users, p_events, p_timestamps, p_data, p_batch) WITH ORDINALITY
            AS t(id, user_id, event, ts, data, batch, ord)
          WHERE t.batch <> ALL (skipped) AND t.ts <= p_at),
        numbered AS (
          SELECT m.*, base + row_number() OVER (ORDER BY m.ts, m.src, m.pos, m.ord) AS seq FROM merged m),
        upd AS (
          UPDATE events e SET seq = n.seq, released_at = p_at FROM numbered n WHERE n.src = 0 AND e.pos = n.pos
          RETURNING e.seq, e.id, e.event, e.timestamp, e.data, e.inserted_at),
        ins AS (
          INSERT INTO events (id, user_id, event, timestamp, data, inserted_at, seq, released_at)
            SELECT n.id, n.user_id, n.event, n.ts, n.data, p_at, n.seq, p_at FROM numbered n WHERE n.src = 1 ORDER BY n.ord
          RETURNING seq, id, event, timestamp, data, inserted_at),
        -- One row per name (an upsert may touch a row once): the batch's newest.
        lat AS (
          INSERT INTO latest (event, seq, timestamp)
            SELECT DISTINCT ON (n.event) n.event, n.seq, n.ts FROM numbered n ORDER BY n.event, n.ts DESC, n.seq DESC
          ON CONFLICT (event) DO UPDATE SET seq = excluded.seq, timestamp = excluded.timestamp
            WHERE excluded.timestamp > latest.timestamp
               OR (excluded.timestamp = latest.timestamp AND excluded.seq > latest.seq))
        SELECT 'released'::text, NULL::integer, x.seq, x.id, x.event, x.timestamp, x.data, x.inserted_at, NULL::text, NULL::text
        FROM (SELECT * FROM upd UNION ALL SELECT * FROM ins) x ORDER BY x.seq;
    END IF;
    -- Delivered at commit, so a listener never hears of a seq it cannot read yet.
    PERFORM pg_notify('${RELEASED_CHANNEL}', (base + total)::text);
  END $fn$;
  ALTER FUNCTION broker_release(double precision, integer) SET plan_cache_mode = force_generic_plan;
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
