import postgres, { type Sql } from 'postgres';
import { isUnavailable } from './guarded.js';

/** What a new client reports to its CommitConnection (postgres.js options of the same names). */
export interface ClientHooks {
  /** A NOTIFY on a channel this connection LISTENs to. */
  onnotify(channel: string, payload: string): void;
  /** The client's connection closed (lost, or ended). */
  onclose(): void;
}

/** The notifications of a node, heard on its group-commit connection (see CommitConnection). */
export interface Notifications {
  /**
   * LISTENs to `channels` now and on every new connection after a lost one; `onListen` runs
   * each time the LISTEN is in place, so that the caller catches up on what it may have missed.
   */
  listen(channels: Readonly<Record<string, (payload: string) => void>>, onListen: () => void): Promise<void>;
}

/**
 * A client of one connection for a CommitConnection, reporting to `hooks`. `onnotify` is the
 * option postgres.js's own listen() gives its connection (not in its types); no idle or lifetime
 * limit, which would end a LISTEN with the connection.
 */
export function commitClient(url: string, hooks: ClientHooks, options: postgres.Options<Record<string, never>> = {}): Sql {
  const own: postgres.Options<Record<string, never>> & Pick<ClientHooks, 'onnotify'> = {
    ...options,
    max: 1,
    idle_timeout: 0,
    max_lifetime: null,
    onnotify: hooks.onnotify,
    onclose: hooks.onclose,
  };
  return postgres(url, own);
}

/** The application_name of a connection that LISTENs: how an import sees a running node. */
export const NODE_LISTENER = 'broker-listen';
/** Wait before opening a new connection after the last one could not connect (ms). */
const RETRY_MS = 1_000;

interface Client {
  readonly sql: Sql;
  ready: Promise<void>;
  /** Connected: if its connection closes, it is replaced at once (else after RETRY_MS). */
  up: boolean;
}

/**
 * The one connection a node's group commits go through, and on which a serving node LISTENs.
 *
 * Group commits: the batches in flight are pipelined on it, so PostgreSQL runs them back to back
 * in one backend; on two connections the second batch's backend sleeps on the release lock until
 * the first has committed and is then woken: a lock hand-over and a process wake-up per commit,
 * and two backends' caches. Measured with 32 clients (alternated 8 s runs of one build, medians
 * of six each, two sets): PostgreSQL CPU per insert 50 → 39 µs and 42 → 38 µs, inserts/s
 * 9,219 → 10,948 and 10,848 → 11,249 (bench/README.md, "The fourth run of 2026-12-02").
 *
 * LISTEN: a commit's NOTIFY wakes every backend that LISTENs in the database, but not the one
 * that sent it (PostgreSQL sets its own flag instead of signalling a process). On a LISTEN
 * connection of its own, each group commit of a node woke that second backend, which then wrote
 * to the node's second socket (~3.6 % of a core at 6,400 inserts/s). Measured with 32 clients,
 * alternated 8 s runs: PostgreSQL CPU per insert 52 → 47 µs (medians of six); inserts/s within
 * the host's noise (bench/README.md, "The fifth run of 2026-12-02"). Here the node's own NOTIFY
 * comes back on this connection before its commit's answer, and other nodes' whenever the
 * backend is between transactions.
 *
 * A lost connection is replaced by a new client rather than reconnected: postgres.js 3.4.9 can
 * leave a connection that was reset while idle holding the query that failed, and every later
 * query on it then waits forever (porsager/postgres#1130; seen here: the query after an
 * ECONNRESET still pending after 20 s). In a pool that costs one connection; here it would stop
 * every insert of the node. A connection that closes is replaced at once, without waiting for an
 * insert, so that a serving node hears notifications again; while the database is unreachable a
 * LISTENing node tries again every RETRY_MS.
 */
export class CommitConnection implements Notifications {
  private current: Client;
  private channels: Readonly<Record<string, (payload: string) => void>> = {};
  private onListen: (() => void) | undefined;
  private retry: NodeJS.Timeout | undefined;
  private closed = false;

  /** `open` makes a client of one connection that calls the hooks (postgres.js `onnotify`, `onclose`). */
  constructor(private readonly open: (hooks: ClientHooks) => Sql) {
    this.current = this.connect();
  }

  /**
   * Resolves once the current client is connected (and LISTENs, if asked to): postgres.js learns
   * the array types on a client's first connection, and an array parameter made before that is
   * sent malformed.
   */
  connected(): Promise<void> {
    return this.current.ready;
  }

  /**
   * Runs `work` on the connection once it is up. A client that could not connect is replaced,
   * and the call tries the new one; one whose connection was lost during the call is replaced
   * for the next call (the call fails: its outcome is unknown).
   */
  async run<T>(work: (sql: Sql) => Promise<T>): Promise<T> {
    let used = this.current;
    try {
      await used.ready;
    } catch {
      // It could not connect (perhaps while the database was down, before a retry was due): a
      // new client, whose error, if it cannot connect either, is this call's.
      this.replace(used);
      used = this.current;
      try {
        await used.ready;
      } catch (error) {
        this.replace(used);
        throw error;
      }
    }
    try {
      return await work(used.sql);
    } catch (error) {
      if (isUnavailable(error)) this.replace(used);
      throw error;
    }
  }

  async listen(channels: Readonly<Record<string, (payload: string) => void>>, onListen: () => void): Promise<void> {
    this.channels = channels;
    this.onListen = onListen;
    // A client still connecting (or the one replacing it) LISTENs as it gets ready (see
    // connect), and run() waits for that; one already up does it here.
    if (!this.current.up) await this.run(async () => {});
    else await this.run((sql) => this.listenOn(sql));
  }

  async end(timeoutS: number): Promise<void> {
    this.closed = true;
    clearTimeout(this.retry);
    await this.current.sql.end({ timeout: timeoutS });
  }

  /** Only the first of the batches pipelined on a lost connection replaces it. */
  private replace(used: Client): void {
    if (this.current !== used || this.closed) return;
    clearTimeout(this.retry);
    this.retry = undefined;
    this.current = this.connect();
    used.sql.end({ timeout: 0 }).catch(() => {});
  }

  /**
   * A client's connection closed (`atOnce`: after it was up) or it could not get ready: replaced at
   * once, or after RETRY_MS if the node LISTENs (else by the next run).
   */
  private lost(client: Client, atOnce: boolean): void {
    if (this.current !== client || this.closed) return;
    if (atOnce) this.replace(client);
    else if (Object.keys(this.channels).length > 0 && this.retry === undefined) {
      this.retry = setTimeout(() => this.replace(client), RETRY_MS);
      this.retry.unref();
    }
  }

  private async listenOn(sql: Sql): Promise<void> {
    const names = Object.keys(this.channels);
    if (names.length === 0) return;
    // Named for what it now is: the connection an import looks for to see a running node.
    await sql.unsafe(
      [`SET application_name = '${NODE_LISTENER}'`, ...names.map((n) => `LISTEN "${n.replace(/"/g, '""')}"`)].join('; '),
    );
    this.onListen?.();
  }

  private connect(): Client {
    const client: Client = {
      sql: this.open({
        onnotify: (channel, payload) => this.channels[channel]?.(payload),
        onclose: () => this.lost(client, client.up),
      }),
      ready: Promise.resolve(),
      up: false,
    };
    client.ready = (async () => {
      await client.sql`SELECT 1`;
      client.up = true;
      await this.listenOn(client.sql);
    })();
    // Awaited by run() and connected(); not an unhandled rejection while nobody waits. A LISTENing
    // node does not wait for an insert to try again.
    client.ready.catch(() => this.lost(client, false));
    return client;
  }
}
