import type { Sql } from 'postgres';
import { isUnavailable } from './guarded.js';

/**
 * The one connection a node's group commits go through. The batches in flight are pipelined on
 * it, so PostgreSQL runs them back to back in one backend; on two connections the second batch's
 * backend sleeps on the release lock until the first has committed and is then woken: a lock
 * hand-over and a process wake-up per commit, and two backends' caches. Measured with 32 clients
 * (alternated 8 s runs of one build, medians of six each, two sets): PostgreSQL CPU per insert
 * 50 → 39 µs and 42 → 38 µs, inserts/s 9,219 → 10,948 and 10,848 → 11,249 (bench/README.md,
 * "The fourth run of 2026-12-02"; the bench's `inserts` scenario gives the figures in one run).
 *
 * A lost connection is replaced by a new client rather than reconnected: postgres.js 3.4.9 can
 * leave a connection that was reset while idle holding the query that failed, and every later
 * query on it then waits forever (porsager/postgres#1130; seen here: the query after an
 * ECONNRESET still pending after 20 s). In a pool that costs one connection; here it would stop
 * every insert of the node.
 */
export class CommitConnection {
  private current: { sql: Sql; ready: Promise<void> };

  constructor(private readonly open: () => Sql) {
    this.current = this.connect();
  }

  /**
   * Resolves once the current client is connected: postgres.js learns the array types on a
   * client's first connection, and an array parameter made before that is sent malformed.
   */
  connected(): Promise<void> {
    return this.current.ready;
  }

  /**
   * Runs `work` on the connection once it is up. A client that could not connect, or whose
   * connection was lost, is replaced for the next call.
   */
  async run<T>(work: (sql: Sql) => Promise<T>): Promise<T> {
    const used = this.current;
    try {
      await used.ready;
    } catch (error) {
      this.replace(used);
      throw error;
    }
    try {
      return await work(used.sql);
    } catch (error) {
      if (isUnavailable(error)) this.replace(used);
      throw error;
    }
  }

  end(timeoutS: number): Promise<void> {
    return this.current.sql.end({ timeout: timeoutS });
  }

  /** Only the first of the batches pipelined on a lost connection replaces it. */
  private replace(used: { sql: Sql }): void {
    if (this.current !== used) return;
    this.current = this.connect();
    used.sql.end({ timeout: 0 }).catch(() => {});
  }

  private connect(): { sql: Sql; ready: Promise<void> } {
    const sql = this.open();
    const ready = sql`SELECT 1`.then(() => {});
    // Awaited by run() and connected(); not an unhandled rejection while nobody waits.
    ready.catch(() => {});
    return { sql, ready };
  }
}
