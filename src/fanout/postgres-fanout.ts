import type { Sql } from 'postgres';
import type { Logger } from 'pino';
import type { Notifications } from '../store/postgres/commit-connection.js';
import { AUTH_CHANNEL, RELEASED_CHANNEL, WAKE_CHANNEL } from '../store/postgres/postgres-schema.js';
import type { Seq } from '../store/store.js';
import type { Fanout } from './fanout.js';


/**
 * Cross-node fan-out over LISTEN/NOTIFY. The node LISTENs on its group-commit connection (see
 * CommitConnection: a NOTIFY does not wake the backend that sent it, and a node's commits are
 * the NOTIFYs it would otherwise hear on a second backend). Payloads are numbers, never data:
 * NOTIFY payloads are capped at 8,000 bytes and a node reads what it missed from the store.
 * After every (re)connect the sink is told the newest seq, so notifications lost while
 * disconnected are caught up from the store. It needs a direct connection: a transaction-mode
 * pooler (PgBouncer) does not keep LISTEN.
 */
export class PostgresFanout implements Fanout {
  private readonly releasedSinks: ((upTo: Seq) => void)[] = [];
  private readonly wakeSinks: ((dueAt: number | undefined) => void)[] = [];
  private readonly authSinks: (() => void)[] = [];
  private connects = 0;

  private constructor(
    private readonly sql: Sql,
    private readonly log: Logger,
  ) {}

  /** Starts listening on `notifications`; resolves once the channels are LISTENed. `sql` runs the catch-up and wake queries. */
  static async open(sql: Sql, notifications: Notifications, log: Logger): Promise<PostgresFanout> {
    const fanout = new PostgresFanout(sql, log);
    await notifications.listen(
      {
        [RELEASED_CHANNEL]: (payload) => {
          const upTo = Number(payload);
          if (Number.isSafeInteger(upTo)) for (const sink of fanout.releasedSinks) sink(upTo);
        },
        [WAKE_CHANNEL]: (payload) => {
          const dueAt = payload === '' ? undefined : Number(payload);
          if (dueAt !== undefined && !Number.isFinite(dueAt)) return;
          for (const sink of fanout.wakeSinks) sink(dueAt);
        },
        [AUTH_CHANNEL]: () => {
          for (const sink of fanout.authSinks) sink();
        },
      },
      // Runs on the first LISTEN and after every reconnect: catch up on what we missed since the
      // connection was lost. Not on the first: no sink is registered yet, and a catch-up still
      // under way once they are would tell a hub that has not started (its cursor at 0) to read
      // every release there is.
      () => {
        fanout.connects += 1;
        if (fanout.connects === 1) return;
        fanout.log.warn('fan-out listener reconnected; catching up from the store');
        void fanout.catchUp();
      },
    );
    return fanout;
  }

  private async catchUp(): Promise<void> {
    try {
      const [row] = await this.sql<{ seq: string }[]>`SELECT seq FROM release_counter WHERE id = 1`;
      const upTo = Number(row?.seq ?? 0);
      for (const sink of this.releasedSinks) sink(upTo);
      for (const sink of this.wakeSinks) sink(undefined);
      for (const sink of this.authSinks) sink();
    } catch (error) {
      this.log.warn({ err: error }, 'fan-out catch-up failed; the next notification retries');
    }
  }

  /** The release transaction already sent NOTIFY at commit; tell this node's own sinks now. */
  async publish(upTo: Seq): Promise<void> {
    for (const sink of this.releasedSinks) sink(upTo);
  }

  onReleased(sink: (upTo: Seq) => void): void {
    this.releasedSinks.push(sink);
  }

  async wakeOthers(dueAt: number | undefined): Promise<void> {
    await this.sql`SELECT pg_notify(${WAKE_CHANNEL}, ${dueAt === undefined ? '' : String(dueAt)})`;
  }

  onWake(sink: (dueAt: number | undefined) => void): void {
    this.wakeSinks.push(sink);
  }

  onAuthChange(sink: () => void): void {
    this.authSinks.push(sink);
  }

  /** Stops telling the sinks; the store closes the connection that LISTENs. */
  async close(): Promise<void> {
    this.releasedSinks.length = 0;
    this.wakeSinks.length = 0;
    this.authSinks.length = 0;
  }
}
