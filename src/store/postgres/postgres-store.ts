import { randomBytes } from 'node:crypto';
import postgres, { type Sql } from 'postgres';
import { MicroBatcher } from '../../lib/micro-batcher.js';
import type {
  AppendBatch,
  AppendOutcome,
  CancelResult,
  EventStore,
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
import { storedEvent } from '../stored-event.js';
import { CommitConnection, commitClient, type Notifications } from './commit-connection.js';
import { guarded } from './guarded.js';
import { migrate } from './postgres-schema.js';
import { postgresRetention } from './postgres-retention.js';
import { postgresSessions, postgresUsers } from './postgres-user-store.js';

/** A row of `events` as postgres.js returns it (bigint columns as strings). */
export interface EventRow {
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
/**
 * Group commits under way at once on this node, and the inserts that must wait before a second
 * one starts while the first is in flight. The clients of a batch in flight wait for their
 * answers, so with one batch at a time the node and PostgreSQL take turns (each idle while the
 * other works); two let them overlap, if the two batches are of a size: a second one started at
 * once would take the one or two inserts that arrived first and split the load into a large
 * batch and a sliver, each paying a round trip and a commit under the release lock.
 *
 * Measured with 32 clients (bench `inserts`, one machine, inserts/s; runs vary by ~10 %): while
 * broker_append still inserted due events pending, then released them: one at a time 5,578,
 * two started at once 4,744, four 4,578; since it writes them released: one at a time 5,144,
 * two with the second once 8 wait 5,791, once 16 wait 6,406. Below 16 concurrent inserts a node
 * works as with one at a time.
 */
const PG_IN_FLIGHT = 2;
const PG_OVERLAP_AT = 16;
/** Connections in this node's pool (the LISTEN and the group-commit connections are separate). */
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
  private readonly batcher: MicroBatcher<AppendBatch, AppendOutcome>;
  private releaseSink: ((released: readonly ReleasedEvent[]) => void) | undefined;

  static async open(url: string, now: () => number = () => Date.now() / 1000): Promise<PostgresStore> {
    const options = {
      onnotice: () => {},
      // Fail fast when the server is down, so /health turns 503 instead of hanging.
      connect_timeout: 5,
    };
    const sql = postgres(url, { ...options, max: POOL_SIZE, connection: { application_name: 'broker' } });
    const commits = new CommitConnection((hooks) =>
      commitClient(url, hooks, { ...options, connection: { application_name: 'broker-append' } }),
    );
    try {
      await migrate(sql);
      await commits.connected();
    } catch (error) {
      await Promise.all([sql.end({ timeout: 1 }), commits.end(1)]);
      throw error;
    }
    return new PostgresStore(sql, commits, now);
  }

  private readonly health = new StorageHealth();

  /** The node's notifications: LISTEN on the group-commit connection (see CommitConnection). */
  get notifications(): Notifications {
    return this.commits;
  }

  private constructor(
    readonly sql: Sql,
    /** Group commits, pipelined on one connection, which also carries the node's LISTEN. */
    private readonly commits: CommitConnection,
    now: () => number,
  ) {
    const health = this.health;
    // A group commit is one statement (broker_append): one round trip and one commit for every
    // request of the batch. PG_IN_FLIGHT batches at once, pipelined on one connection: the
    // requests that arrive while one commits form the next batch.
    this.batcher = new MicroBatcher<AppendBatch, AppendOutcome>(
      (batches) => health.write(guarded(() => this.appendBatches(batches, now()))),
      MAX_GROUP_COMMIT,
      PG_IN_FLIGHT,
      (batch) => batch.events.length,
      PG_OVERLAP_AT,
    );

    this.users = postgresUsers(sql, now);
    this.sessions = postgresSessions(sql, now);
    this.retention = postgresRetention(sql);

    const columns = sql.unsafe(EVENT_COLUMNS);
    this.events = {
      append: async (event) => {
        const result = await this.batcher.submit({ events: [event] });
        return (result as Extract<AppendOutcome, { kind: 'stored' }>).events[0] as StoredEvent;
      },
      appendBatch: (batch) => this.batcher.submit(batch),
      pruneIdempotencyKeys: (at) =>
        guarded(async () => {
          await sql`DELETE FROM idempotency_keys WHERE expires_at <= ${at}`;
        }),
      onAppendRelease: (sink) => {
        this.releaseSink = sink;
      },
      appendsSettled: () => this.batcher.settled(),
      releaseDue: (at, limit) =>
        health.write(
          guarded(async () => (await sql<ReleaseRow[]>`SELECT * FROM broker_release(${at}, ${limit})`).map((r) => fromRelease(r, at))),
        ),
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

  /** One group commit: every batch's key and events, and the release of what is due, in one statement. */
  private async appendBatches(batches: readonly AppendBatch[], at: number): Promise<AppendOutcome[]> {
    const events = batches.flatMap((b, k) => b.events.map((e) => ({ e, k })));
    const keyed = batches.flatMap((b, k) => (b.key ? [{ key: b.key, k }] : []));
    const rows = await this.commits.run((sql) => sql<(ReleaseRow & { r_kind: string; r_batch: number | null; r_hash: string | null; r_response: string | null })[]>`
      SELECT * FROM broker_append(
        ${sql.array(events.map((x) => x.e.id))}::text[], ${sql.array(events.map((x) => x.e.userId))}::text[],
        ${sql.array(events.map((x) => x.e.event))}::text[], ${sql.array(events.map((x) => x.e.timestamp))}::float8[],
        ${sql.array(events.map((x) => x.e.data))}::text[], ${sql.array(events.map((x) => x.k))}::int[],
        ${sql.array(keyed.map((x) => x.k))}::int[], ${sql.array(keyed.map((x) => x.key.userId))}::text[],
        ${sql.array(keyed.map((x) => x.key.key))}::text[], ${sql.array(keyed.map((x) => x.key.hash))}::text[],
        ${sql.array(keyed.map((x) => x.key.response))}::text[], ${sql.array(keyed.map((x) => x.key.expiresAt))}::float8[],
        ${at}, ${MAX_GROUP_COMMIT})`);
    const released: ReleasedEvent[] = [];
    const duplicates = new Map<number, { hash: string; response: string }>();
    for (const r of rows) {
      if (r.r_kind === 'duplicate') duplicates.set(r.r_batch as number, { hash: r.r_hash as string, response: r.r_response as string });
      else released.push(fromRelease(r, at));
    }
    if (released.length > 0) this.releaseSink?.(released);
    const seqOf = new Map(released.map((r) => [r.id, r.seq]));
    return batches.map((b, k): AppendOutcome => {
      const dup = duplicates.get(k);
      if (dup) return { kind: 'duplicate', ...dup };
      return {
        kind: 'stored',
        events: b.events.map((e) => storedEvent(e, seqOf.get(e.id))),
      };
    });
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
    await Promise.all([this.commits.end(5), this.sql.end({ timeout: 5 })]);
  }
}

/** A row of broker_release / broker_append's releases. */
interface ReleaseRow {
  r_seq: string;
  r_id: string;
  r_event: string;
  r_ts: number;
  r_data: string;
  r_inserted_at: number;
}

function fromRelease(r: ReleaseRow, at: number): ReleasedEvent {
  return { seq: Number(r.r_seq), id: r.r_id, event: r.r_event, timestamp: r.r_ts, data: r.r_data, insertedAt: r.r_inserted_at, releasedAt: at };
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
