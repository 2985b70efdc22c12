import postgres, { type Sql, type TransactionSql } from 'postgres';
import { usernameKey } from '../../lib/username-key.js';
import { DataMoveError } from '../data-move-error.js';
import type { DumpReader, DumpRecord, DumpSnapshot, DumpWriter, NumberedRecord } from '../dump.js';
import { latestWithoutEvent, throwIfNotEmpty, tokenWithoutSession } from '../dump-refusals.js';
import type { Seq } from '../store.js';
import { NODE_LISTENER } from './commit-connection.js';
import type { EventRow } from './postgres-store.js';
import { guarded } from './guarded.js';
import { migrate } from './postgres-schema.js';

/** Rows per cursor fetch of an export. */
const PAGE = 250;

function connect(url: string, applicationName: string): Sql {
  return postgres(url, { max: 1, onnotice: () => {}, connect_timeout: 5, connection: { application_name: applicationName } });
}

/** host:port/database of a URL, never its password. */
function describe(url: string): string {
  try {
    const u = new URL(url);
    return `${u.hostname}:${u.port || '5432'}${u.pathname}`;
  } catch {
    return '(unparsable URL)';
  }
}

async function opened(url: string, applicationName: string, prepare: (sql: Sql) => Promise<void>): Promise<Sql> {
  const sql = connect(url, applicationName);
  try {
    await prepare(sql);
    return sql;
  } catch (error) {
    await sql.end({ timeout: 1 });
    if (error instanceof DataMoveError) throw error;
    const message = error instanceof Error ? error.message : String(error);
    throw new DataMoveError(`cannot use the PostgreSQL database ${describe(url)}: ${message}`, false, { cause: error });
  }
}

/**
 * Export from PostgreSQL: one REPEATABLE READ, READ ONLY transaction is the snapshot (nodes go on
 * inserting and releasing meanwhile; none of it is seen), each section read through a cursor,
 * a page at a time. Text keys are ordered COLLATE "C" (byte order), as SQLite orders them.
 */
export class PostgresDumpReader implements DumpReader {
  private constructor(private readonly sql: Sql) {}

  static async open(url: string): Promise<PostgresDumpReader> {
    const sql = await opened(url, 'broker-export', async (s) => {
      const [row] = await s<{ t: string | null }[]>`SELECT to_regclass('broker_migrations')::text AS t`;
      if (!row?.t) throw new DataMoveError(`the PostgreSQL database ${describe(url)} has no Broker schema: nothing to export`, false);
      // An older schema is brought up to date first, as a starting node would.
      await migrate(s);
    });
    return new PostgresDumpReader(sql);
  }

  read<T>(consume: (snapshot: DumpSnapshot) => Promise<T>): Promise<T> {
    return guarded(
      () =>
        this.sql.begin('ISOLATION LEVEL REPEATABLE READ READ ONLY', async (tx) => {
          const [counter] = await tx<{ seq: string }[]>`SELECT seq FROM release_counter WHERE id = 1`;
          return consume({ releaseSeq: Number(counter?.seq ?? 0), records: () => records(tx) });
        }) as Promise<T>,
    );
  }

  async close(): Promise<void> {
    await this.sql.end({ timeout: 5 });
  }
}

async function* records(tx: TransactionSql): AsyncGenerator<DumpRecord[]> {
  for await (const rows of tx<
    { id: string; username: string; password_hash: string; info: string; roles: string; disabled: boolean; gen: number; created_at: number }[]
  >`SELECT id, username, password_hash, info, roles, disabled, gen, created_at FROM users ORDER BY id COLLATE "C"`.cursor(PAGE)) {
    yield rows.map((r) => ({
      type: 'user',
      id: r.id,
      username: r.username,
      passwordHash: r.password_hash,
      info: r.info,
      roles: JSON.parse(r.roles) as string[],
      disabled: r.disabled,
      gen: r.gen,
      createdAt: r.created_at,
    }));
  }
  for await (const rows of tx<(Omit<EventRow, 'pos'> & { cancelled_at: number | null })[]>`SELECT id, user_id, event, timestamp, data, inserted_at, seq, released_at, cancelled, cancelled_at
    FROM events ORDER BY pos`.cursor(PAGE)) {
    yield rows.map((r) => ({
      type: 'event',
      id: r.id,
      userId: r.user_id,
      event: r.event,
      timestamp: r.timestamp,
      data: r.data,
      insertedAt: r.inserted_at,
      seq: r.seq === null ? null : Number(r.seq),
      releasedAt: r.released_at,
      cancelled: r.cancelled,
      cancelledAt: r.cancelled_at,
    }));
  }
  for await (const rows of tx<{ event: string; seq: string; timestamp: number }[]>`
    SELECT event, seq, timestamp FROM latest ORDER BY event COLLATE "C"`.cursor(PAGE)) {
    yield rows.map((r) => ({ type: 'latest', event: r.event, seq: Number(r.seq), timestamp: r.timestamp }));
  }
  for await (const rows of tx<{ id: string; user_id: string; created_at: number; ended_at: number | null }[]>`
    SELECT id, user_id, created_at, ended_at FROM sessions ORDER BY id COLLATE "C"`.cursor(PAGE)) {
    yield rows.map((r) => ({ type: 'session', id: r.id, userId: r.user_id, createdAt: r.created_at, endedAt: r.ended_at }));
  }
  for await (const rows of tx<{ hash: string; session_id: string; expires_at: number; spent_at: number | null }[]>`
    SELECT hash, session_id, expires_at, spent_at FROM refresh_tokens ORDER BY hash COLLATE "C"`.cursor(PAGE)) {
    yield rows.map((r) => ({ type: 'refresh_token', hash: r.hash, sessionId: r.session_id, expiresAt: r.expires_at, spentAt: r.spent_at }));
  }
  for await (const rows of tx<{ id: string; at: number; user_id: string; gen: number | null; session_id: string | null }[]>`
    SELECT id, at, user_id, gen, session_id FROM auth_changes ORDER BY id`.cursor(PAGE)) {
    yield rows.map((r) => ({ type: 'auth_change', id: Number(r.id), at: r.at, userId: r.user_id, gen: r.gen, sessionId: r.session_id }));
  }
}

/**
 * Import into PostgreSQL: the schema is created first (as a starting node would), then the data
 * goes in as one transaction: all of it is committed, or nothing. The tables are locked against
 * writes meanwhile, the release counter is set to the file's position, and the sequences of
 * `events.pos` and `auth_changes.id` continue after the imported rows. Rows go in as multi-row
 * inserts of a batch each, under a savepoint: when the database refuses one, the batch is tried
 * again row by row to name the line at fault.
 */
export class PostgresDumpWriter implements DumpWriter {
  private constructor(
    private readonly sql: Sql,
    private readonly where: string,
  ) {}

  static async open(url: string): Promise<PostgresDumpWriter> {
    return new PostgresDumpWriter(await opened(url, 'broker-import', (s) => migrate(s)), describe(url));
  }

  async load(releaseSeq: Seq, batches: AsyncIterable<readonly NumberedRecord[]>): Promise<void> {
    await guarded(() =>
      this.sql.begin(async (tx) => {
        const [nodes] = await tx<{ n: string }[]>`
          SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND application_name = ${NODE_LISTENER}`;
        if (Number(nodes?.n ?? 0) > 0) {
          throw new DataMoveError(
            `Broker nodes are running on ${this.where} (${nodes?.n} listening): stop them, import, then start them again`,
            false,
          );
        }
        await tx`LOCK TABLE users, events, latest, sessions, refresh_tokens, auth_changes, release_counter IN EXCLUSIVE MODE`;
        const [held] = await tx<{ users: string; events: string; others: string }[]>`
          SELECT (SELECT count(*) FROM users) AS users, (SELECT count(*) FROM events) AS events,
                 (SELECT count(*) FROM latest) + (SELECT count(*) FROM sessions) + (SELECT count(*) FROM refresh_tokens)
                 + (SELECT count(*) FROM auth_changes) + (SELECT seq FROM release_counter WHERE id = 1) AS others`;
        throwIfNotEmpty(this.where, Number(held?.users), Number(held?.events), Number(held?.others));
        let pos = 0;
        for await (const batch of batches) {
          // A batch holds one section, or the end of one and the start of the next.
          for (let from = 0; from < batch.length; ) {
            const type = (batch[from] as NumberedRecord).record.type;
            let to = from + 1;
            while (to < batch.length && (batch[to] as NumberedRecord).record.type === type) to++;
            const run = batch.slice(from, to);
            await insertRun(tx, run, pos);
            if (type === 'event') pos += run.length;
            from = to;
          }
        }
        await tx`UPDATE release_counter SET seq = ${releaseSeq} WHERE id = 1`;
        if (pos > 0) await tx`SELECT setval(pg_get_serial_sequence('events', 'pos'), ${pos})`;
        await tx`
          SELECT setval(pg_get_serial_sequence('auth_changes', 'id'), max(id)) FROM auth_changes HAVING max(id) IS NOT NULL`;
      }),
    );
  }

  async close(): Promise<void> {
    await this.sql.end({ timeout: 5 });
  }
}

function isPostgresError(error: unknown): error is postgres.PostgresError {
  return error instanceof postgres.PostgresError;
}

/** Inserts records of one section (`pos`: insertion positions taken before them). */
async function insertRun(tx: TransactionSql, run: readonly NumberedRecord[], pos: number): Promise<void> {
  await checkReferences(tx, run);
  try {
    await tx.savepoint((sp) => insertRows(sp, run.map((n) => n.record), pos));
  } catch (error) {
    if (!isPostgresError(error)) throw error;
    for (const [i, { line, record }] of run.entries()) {
      try {
        await tx.savepoint((sp) => insertRows(sp, [record], pos + i));
      } catch (rowError) {
        if (!isPostgresError(rowError)) throw rowError;
        const detail = rowError.detail ? ` (${rowError.detail})` : '';
        throw DataMoveError.atLine(line, `the database refused this ${record.type}: ${rowError.message}${detail}`, { cause: rowError });
      }
    }
    throw error;
  }
}

/** `latest` rows must point at their released version, refresh tokens at a session of the file. */
async function checkReferences(tx: TransactionSql, run: readonly NumberedRecord[]): Promise<void> {
  const first = run[0]?.record;
  if (first?.type === 'latest') {
    const rows = run.map((n) => n.record as Extract<DumpRecord, { type: 'latest' }>);
    const [bad] = await tx<{ n: string }[]>`
      SELECT v.n FROM unnest(${tx.array(rows.map((r) => r.event))}::text[], ${tx.array(rows.map((r) => String(r.seq)))}::bigint[],
                             ${tx.array(rows.map((r) => r.timestamp))}::float8[]) WITH ORDINALITY AS v(event, seq, timestamp, n)
      LEFT JOIN events e ON e.seq = v.seq
      WHERE e.seq IS NULL OR e.event <> v.event OR e.timestamp <> v.timestamp
      ORDER BY v.n LIMIT 1`;
    if (bad) {
      const at = run[Number(bad.n) - 1] as NumberedRecord;
      const r = at.record as Extract<DumpRecord, { type: 'latest' }>;
      throw DataMoveError.atLine(at.line, latestWithoutEvent(r.event, r.seq).message);
    }
  }
  if (first?.type === 'refresh_token') {
    const rows = run.map((n) => n.record as Extract<DumpRecord, { type: 'refresh_token' }>);
    const [bad] = await tx<{ n: string }[]>`
      SELECT v.n FROM unnest(${tx.array(rows.map((r) => r.sessionId))}::text[]) WITH ORDINALITY AS v(session_id, n)
      WHERE NOT EXISTS (SELECT 1 FROM sessions s WHERE s.id = v.session_id) ORDER BY v.n LIMIT 1`;
    if (bad) {
      const at = run[Number(bad.n) - 1] as NumberedRecord;
      throw DataMoveError.atLine(at.line, tokenWithoutSession((at.record as Extract<DumpRecord, { type: 'refresh_token' }>).sessionId).message);
    }
  }
}

/** One multi-row INSERT of records of one section. */
async function insertRows(tx: TransactionSql, records: readonly DumpRecord[], pos: number): Promise<void> {
  const first = records[0];
  if (first === undefined) return;
  switch (first.type) {
    case 'user': {
      const rows = (records as Extract<DumpRecord, { type: 'user' }>[]).map((r) => ({
        id: r.id,
        username: r.username,
        username_key: usernameKey(r.username),
        password_hash: r.passwordHash,
        info: r.info,
        roles: JSON.stringify(r.roles),
        disabled: r.disabled,
        gen: r.gen,
        created_at: r.createdAt,
      }));
      await tx`INSERT INTO users ${tx(rows, 'id', 'username', 'username_key', 'password_hash', 'info', 'roles', 'disabled', 'gen', 'created_at')}`;
      return;
    }
    case 'event': {
      // Insertion order is kept as given (explicit positions): ties of equal timestamps follow it.
      const rows = (records as Extract<DumpRecord, { type: 'event' }>[]).map((r, i) => ({
        pos: pos + i + 1,
        id: r.id,
        user_id: r.userId,
        event: r.event,
        timestamp: r.timestamp,
        data: r.data,
        inserted_at: r.insertedAt,
        seq: r.seq,
        released_at: r.releasedAt,
        cancelled: r.cancelled,
        cancelled_at: r.cancelledAt,
      }));
      await tx`INSERT INTO events ${tx(
        rows,
        'pos',
        'id',
        'user_id',
        'event',
        'timestamp',
        'data',
        'inserted_at',
        'seq',
        'released_at',
        'cancelled',
        'cancelled_at',
      )}`;
      return;
    }
    case 'latest': {
      const rows = (records as Extract<DumpRecord, { type: 'latest' }>[]).map((r) => ({ event: r.event, seq: r.seq, timestamp: r.timestamp }));
      await tx`INSERT INTO latest ${tx(rows, 'event', 'seq', 'timestamp')}`;
      return;
    }
    case 'session': {
      const rows = (records as Extract<DumpRecord, { type: 'session' }>[]).map((r) => ({
        id: r.id,
        user_id: r.userId,
        created_at: r.createdAt,
        ended_at: r.endedAt,
      }));
      await tx`INSERT INTO sessions ${tx(rows, 'id', 'user_id', 'created_at', 'ended_at')}`;
      return;
    }
    case 'refresh_token': {
      const rows = (records as Extract<DumpRecord, { type: 'refresh_token' }>[]).map((r) => ({
        hash: r.hash,
        session_id: r.sessionId,
        expires_at: r.expiresAt,
        spent_at: r.spentAt,
      }));
      await tx`INSERT INTO refresh_tokens ${tx(rows, 'hash', 'session_id', 'expires_at', 'spent_at')}`;
      return;
    }
    case 'auth_change': {
      const rows = (records as Extract<DumpRecord, { type: 'auth_change' }>[]).map((r) => ({
        id: r.id,
        at: r.at,
        user_id: r.userId,
        gen: r.gen,
        session_id: r.sessionId,
      }));
      await tx`INSERT INTO auth_changes ${tx(rows, 'id', 'at', 'user_id', 'gen', 'session_id')}`;
      return;
    }
  }
}
