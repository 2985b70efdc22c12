import postgres, { type Sql } from 'postgres';
import type { Logger } from 'pino';
import { AUTH_CHANNEL, RELEASED_CHANNEL, WAKE_CHANNEL } from '../store/postgres/postgres-schema.js';
import type { Seq } from '../store/store.js';
import type { Fanout } from './fanout.js';


/**
 * Cross-node fan-out over LISTEN/NOTIFY on a dedicated connection (postgres.js re-LISTENs by
 * itself after a reconnect). Payloads are numbers, never data: NOTIFY payloads are capped at
 * 8,000 bytes and a node reads what it missed from the store. After every (re)connect the sink
 * is told the newest seq, so notifications lost while disconnected are caught up from the store.
 * It needs a direct connection: a transaction-mode pooler (PgBouncer) does not keep LISTEN.
 */
export class PostgresFanout implements Fanout {
  private readonly releasedSinks: ((upTo: Seq) => void)[] = [];
  private readonly wakeSinks: ((dueAt: number | undefined) => void)[] = [];
  private readonly authSinks: (() => void)[] = [];
  private readonly listener: Sql;

  private constructor(
    private readonly sql: Sql,
    url: string,
    private readonly log: Logger,
  ) {
    this.listener = postgres(url, { max: 1, onnotice: () => {}, connection: { application_name: 'broker-listen' } });
  }

  /** Starts listening; resolves once both channels are LISTENed. */
  static async open(sql: Sql, url: string, log: Logger): Promise<PostgresFanout> {
    const fanout = new PostgresFanout(sql, url, log);
    await fanout.listen();
    return fanout;
  }

  private async listen(): Promise<void> {
    let connects = 0;
    await this.listener.listen(
      RELEASED_CHANNEL,
      (payload) => {
        const upTo = Number(payload);
        if (Number.isSafeInteger(upTo)) for (const sink of this.releasedSinks) sink(upTo);
      },
      () => {
        // Runs on the first LISTEN and after every reconnect: catch up on what we missed.
        connects += 1;
        if (connects > 1) this.log.warn('fan-out listener reconnected; catching up from the store');
        void this.catchUp();
      },
    );
    await this.listener.listen(WAKE_CHANNEL, (payload) => {
      const dueAt = payload === '' ? undefined : Number(payload);
      if (dueAt !== undefined && !Number.isFinite(dueAt)) return;
      for (const sink of this.wakeSinks) sink(dueAt);
    });
    await this.listener.listen(AUTH_CHANNEL, () => {
      for (const sink of this.authSinks) sink();
    });
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

  async close(): Promise<void> {
    this.releasedSinks.length = 0;
    this.wakeSinks.length = 0;
    this.authSinks.length = 0;
    await this.listener.end({ timeout: 2 });
  }
}
