import { randomBytes } from 'node:crypto';
import postgres, { type Sql, type TransactionSql } from 'postgres';
import { MicroBatcher } from '../../lib/micro-batcher.js';
import type {
  CancelResult,
  EventStore,
  NewEvent,
  ReleasedEvent,
  RetentionStore,
  Seq,
  Store,
  SessionStore,
  StorageStats,
  StoredEvent,
  UserStore,
} from '../store.js';
import { StorageHealth } from '../storage-health.js';
import { guarded } from './guarded.js';
import { migrate, RELEASE_LOCK, RELEASED_CHANNEL } from './postgres-schema.js';
import { postgresRetention } from './postgres-retention.js';
import { postgresSessions, postgresUsers } from './postgres-user-store.js';

interface EventRow {
  pos: string;
  id: string;
  user_id: string;
  event: string;
  timestamp: number;
  data: string;
  inserted_at: number;
  seq: string | null;
  released_at: number | null;
  cancelled: boolean;
}

/** Most inserts committed in one statement (rows). */
const MAX_GROUP_COMMIT = 1000;
/** Connections in this node's pool (the LISTEN connection is separate). */
export const POOL_SIZE = 10;

const EVENT_COLUMNS = 'pos, id, user_id, event, timestamp, data, inserted_at, seq, released_at, cancelled';

/**
 * PostgreSQL store for several nodes on one database. Releases are serialised by a
 * transaction-scoped advisory lock, so the sequence is gapless and commit order is seq order on
 * any number of nodes; a release announces its last seq with NOTIFY (sent at commit).
 */
export class PostgresStore implements Store {
  readonly users: UserStore;
  readonly sessions: SessionStore;
  readonly events: EventStore;
  readonly retention: RetentionStore;
  private readonly batcher: MicroBatcher<NewEvent, StoredEvent>;
  private releaseSink: ((released: readonly ReleasedEvent[]) => void) | undefined;

  static async open(url: string, now: () => number = () => Date.now() / 1000): Promise<PostgresStore> {
    const sql = postgres(url, {
      max: POOL_SIZE,
      onnotice: () => {},
      connection: { application_name: 'broker' },
      // Fail fast when the server is down, so /health turns 503 instead of hanging.
      connect_timeout: 5,
    });
    try {
      await migrate(sql);
    } catch (error) {
      await sql.end({ timeout: 1 });
      throw error;
    }
    return new PostgresStore(sql, now);
  }

  private readonly health = new StorageHealth();

  private constructor(
    readonly sql: Sql,
    now: () => number,
  ) {
    const health = this.health;
    this.batcher = new MicroBatcher<NewEvent, StoredEvent>(async (items) => {
      const at = now();
      const rows = items.map((e) => ({
        id: e.id,
        user_id: e.userId,
        event: e.event,
        timestamp: e.timestamp,
        data: e.data,
        inserted_at: at,
      }));
      const due = items.some((e) => e.timestamp <= at);
      // One transaction: the batch's rows, and (if any is due) the release of everything due.
      const released = await health.write(guarded(() =>
        sql.begin(async (tx): Promise<ReleasedEvent[]> => {
          await tx`INSERT INTO events ${tx(rows, 'id', 'user_id', 'event', 'timestamp', 'data', 'inserted_at')}`;
          return due ? releaseIn(tx, at, MAX_GROUP_COMMIT) : [];
        }),
      ));
      if (released.length > 0) this.releaseSink?.(released);
      const byId = new Map(released.map((r) => [r.id, r]));
      return items.map((e): StoredEvent => {
        const r = byId.get(e.id);
        return { ...e, published: r !== undefined, cancelled: false, seq: r?.seq };
      });
    }, MAX_GROUP_COMMIT);

    this.users = postgresUsers(sql, now);
    this.sessions = postgresSessions(sql, now);
    this.retention = postgresRetention(sql);

    const columns = sql.unsafe(EVENT_COLUMNS);
    this.events = {
      append: (event) => this.batcher.submit(event),
      onAppendRelease: (sink) => {
        this.releaseSink = sink;
      },
      releaseDue: (at, limit) => health.write(guarded(() => sql.begin((tx) => releaseIn(tx, at, limit)))),
      readReleased: ({ after, names, limit }) =>
        guarded(async () =>
          (names === undefined
            ? await sql<EventRow[]>`SELECT ${columns} FROM events WHERE seq > ${after} ORDER BY seq LIMIT ${limit}`
            : await sql<EventRow[]>`
                SELECT ${columns} FROM events WHERE seq > ${after} AND event = ANY(${sql.array([...names])}::text[])
                ORDER BY seq LIMIT ${limit}`
          ).map(toReleased),
        ),
      readLatest: ({ after, upTo, names, limit }) =>
        guarded(async () =>
          (names === undefined
            ? await sql<EventRow[]>`
                SELECT e.* FROM latest l JOIN events e ON e.seq = l.seq
                WHERE l.seq > ${after} AND l.seq <= ${upTo} ORDER BY l.seq LIMIT ${limit}`
            : await sql<EventRow[]>`
                SELECT e.* FROM latest l JOIN events e ON e.seq = l.seq
                WHERE l.seq > ${after} AND l.seq <= ${upTo} AND l.event = ANY(${sql.array([...names])}::text[])
                ORDER BY l.seq LIMIT ${limit}`
          ).map(toReleased),
        ),
      lastSeq: () =>
        guarded(async (): Promise<Seq> => {
          const [row] = await sql<{ seq: string }[]>`SELECT seq FROM release_counter WHERE id = 1`;
          return Number(row?.seq ?? 0);
        }),
      history: (name, page) =>
        guarded(async () => {
          if (page.after === undefined) {
            return (
              await sql<EventRow[]>`SELECT ${columns} FROM events WHERE event = ${name} ORDER BY timestamp, pos LIMIT ${page.limit}`
            ).map(toStored);
          }
          const [from] = await sql<{ timestamp: number; pos: string }[]>`
            SELECT timestamp, pos FROM events WHERE id = ${page.after} AND event = ${name}`;
          if (!from) return undefined;
          return (
            await sql<EventRow[]>`
              SELECT ${columns} FROM events WHERE event = ${name} AND (timestamp, pos) > (${from.timestamp}, ${from.pos}::bigint)
              ORDER BY timestamp, pos LIMIT ${page.limit}`
          ).map(toStored);
        }),
      cancel: (id, userId, asAdmin = false) =>
        guarded(() =>
          sql.begin(async (tx): Promise<CancelResult> => {
            // FOR UPDATE waits for a release holding the row, then sees its outcome.
            const [row] = await tx<EventRow[]>`SELECT ${columns} FROM events WHERE id = ${id} FOR UPDATE`;
            if (!row) return { kind: 'not_found' };
            if (row.user_id !== userId && !asAdmin) return { kind: 'forbidden' };
            if (row.cancelled) return { kind: 'already_cancelled' };
            if (row.seq !== null) return { kind: 'already_released' };
            await tx`UPDATE events SET cancelled = true, cancelled_at = ${now()} WHERE pos = ${row.pos}`;
            return { kind: 'cancelled', event: toStored({ ...row, cancelled: true }) };
          }),
        ),
      pending: (userId, page) =>
        guarded(async () => {
          if (page.after === undefined) {
            return (
              await sql<EventRow[]>`
                SELECT ${columns} FROM events WHERE user_id = ${userId} AND seq IS NULL AND NOT cancelled
                ORDER BY timestamp, pos LIMIT ${page.limit}`
            ).map(toStored);
          }
          const [from] = await sql<{ timestamp: number; pos: string }[]>`
            SELECT timestamp, pos FROM events WHERE id = ${page.after} AND user_id = ${userId}`;
          if (!from) return undefined;
          return (
            await sql<EventRow[]>`
              SELECT ${columns} FROM events WHERE user_id = ${userId} AND seq IS NULL AND NOT cancelled
                AND (timestamp, pos) > (${from.timestamp}, ${from.pos}::bigint)
              ORDER BY timestamp, pos LIMIT ${page.limit}`
          ).map(toStored);
        }),
      nextDueAt: () =>
        guarded(async () => {
          const [row] = await sql<{ timestamp: number }[]>`
            SELECT timestamp FROM events WHERE seq IS NULL AND NOT cancelled ORDER BY timestamp, pos LIMIT 1`;
          return row?.timestamp;
        }),
    };
  }

  /**
   * The shared development secret: the first node to start stores a random one, every node
   * reads the same, so tokens work across nodes. Production sets SECRET instead.
   */
  async sharedSecret(): Promise<{ secret: string; generated: boolean }> {
    const candidate = randomBytes(48).toString('base64url');
    const inserted = await this.sql`
      INSERT INTO broker_secret (id, secret) VALUES (1, ${candidate}) ON CONFLICT (id) DO NOTHING RETURNING id`;
    const [row] = await this.sql<{ secret: string }[]>`SELECT secret FROM broker_secret WHERE id = 1`;
    return { secret: row?.secret ?? candidate, generated: inserted.length === 1 };
  }

  storageFull(): boolean {
    return this.health.full;
  }

  stats(): Promise<StorageStats> {
    return guarded(async () => {
      const [row] = await this.sql<
        { bytes: string; pending: string; released: string; cancelled: string; oldest: number | null }[]
      >`
        SELECT pg_database_size(current_database()) AS bytes,
               (SELECT count(*) FROM events WHERE seq IS NULL AND NOT cancelled) AS pending,
               (SELECT count(*) FROM events WHERE seq IS NOT NULL) AS released,
               (SELECT count(*) FROM events WHERE cancelled) AS cancelled,
               (SELECT timestamp FROM events WHERE seq IS NULL AND NOT cancelled ORDER BY timestamp, pos LIMIT 1) AS oldest`;
      return {
        bytes: Number(row?.bytes ?? 0),
        pending: Number(row?.pending ?? 0),
        released: Number(row?.released ?? 0),
        cancelled: Number(row?.cancelled ?? 0),
        oldestPendingDue: row?.oldest ?? undefined,
      };
    });
  }

  async ping(): Promise<void> {
    await guarded(() => this.sql`SELECT 1`);
  }

  async close(): Promise<void> {
    await this.batcher.drain();
    await this.sql.end({ timeout: 5 });
  }
}

/**
 * Releases what is due inside `tx`: under the release lock (serialising every node), the due
 * rows in timestamp order get the next seqs of the one-row counter, `latest` follows, and a
 * NOTIFY of the last seq goes out at commit (so no node hears of a seq it cannot read yet).
 */
async function releaseIn(tx: TransactionSql, at: number, limit: number): Promise<ReleasedEvent[]> {
  const columns = tx.unsafe(EVENT_COLUMNS);
  await tx`SELECT pg_advisory_xact_lock(${RELEASE_LOCK})`;
  const due = await tx<EventRow[]>`
    SELECT ${columns} FROM events
    WHERE seq IS NULL AND NOT cancelled AND timestamp <= ${at}
    ORDER BY timestamp, pos LIMIT ${limit} FOR UPDATE`;
  if (due.length === 0) return [];
  const [counter] = await tx<{ seq: string }[]>`
    UPDATE release_counter SET seq = seq + ${due.length} WHERE id = 1 RETURNING seq`;
  const first = Number(counter?.seq) - due.length + 1;
  const released = due.map((row, i) => toReleased({ ...row, seq: String(first + i), released_at: at }));
  await tx`
    UPDATE events AS e SET seq = v.seq, released_at = ${at}
    FROM unnest(${tx.array(due.map((r) => r.pos))}::bigint[], ${tx.array(released.map((r) => String(r.seq)))}::bigint[]) AS v(pos, seq)
    WHERE e.pos = v.pos`;
  // One upsert per name (an INSERT … ON CONFLICT may touch a row once): the batch's newest.
  const newest = new Map<string, ReleasedEvent>();
  for (const r of released) {
    const best = newest.get(r.event);
    if (!best || r.timestamp >= best.timestamp) newest.set(r.event, r);
  }
  const latest = [...newest.values()];
  await tx`
    INSERT INTO latest (event, seq, timestamp)
    SELECT * FROM unnest(${tx.array(latest.map((r) => r.event))}::text[],
                         ${tx.array(latest.map((r) => String(r.seq)))}::bigint[],
                         ${tx.array(latest.map((r) => r.timestamp))}::float8[])
    ON CONFLICT (event) DO UPDATE SET seq = excluded.seq, timestamp = excluded.timestamp
    WHERE excluded.timestamp > latest.timestamp
       OR (excluded.timestamp = latest.timestamp AND excluded.seq > latest.seq)`;
  const last = released[released.length - 1] as ReleasedEvent;
  // Delivered at commit, so a listener never hears of a seq it cannot read yet.
  await tx`SELECT pg_notify(${RELEASED_CHANNEL}, ${String(last.seq)})`;
  return released;
}

function toStored(row: EventRow): StoredEvent {
  return {
    id: row.id,
    userId: row.user_id,
    event: row.event,
    timestamp: row.timestamp,
    data: row.data,
    published: row.seq !== null,
    cancelled: row.cancelled,
    seq: row.seq === null ? undefined : Number(row.seq),
  };
}

function toReleased(row: EventRow): ReleasedEvent {
  return {
    seq: Number(row.seq),
    id: row.id,
    event: row.event,
    timestamp: row.timestamp,
    data: row.data,
    insertedAt: row.inserted_at,
    releasedAt: row.released_at as number,
  };
}
