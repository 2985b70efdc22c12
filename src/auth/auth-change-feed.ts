import type { Logger } from 'pino';
import type { AuthChange, SessionStore } from '../store/store.js';

export interface AuthChangeFeedOptions {
  /** Milliseconds between reads of the log: the bound on how late a change made elsewhere arrives. */
  readonly pollMs: number;
  /** Seconds of log a node must know (the token lifetime plus a margin). */
  readonly windowSeconds: number;
  /** Log entries per read. */
  readonly pageSize: number;
}

/**
 * Tails the auth change log so that a revocation made anywhere — another node, the CLI on the
 * same database — reaches this node: at start-up it reads the entries of the last
 * `windowSeconds`, then reads new ones every `pollMs` (a single indexed query, about 20 µs on
 * SQLite), or at once when `nudge()` is called (a PostgreSQL NOTIFY, or a change this node made).
 * Each entry goes to `apply`, in log order; applying one twice is harmless.
 */
export class AuthChangeFeed {
  private cursor = 0;
  private timer: NodeJS.Timeout | undefined;
  private reading: Promise<void> | undefined;
  private again = false;
  private stopped = false;

  constructor(
    private readonly sessions: SessionStore,
    private readonly apply: (change: AuthChange) => void,
    private readonly options: AuthChangeFeedOptions,
    private readonly log: Logger,
    private readonly now: () => number = () => Date.now() / 1000,
  ) {}

  /** Reads what a starting node must know, then polls. Rejects if the store cannot be read. */
  async start(): Promise<void> {
    await this.read();
    this.timer = setInterval(() => this.nudge(), this.options.pollMs);
    this.timer.unref();
  }

  /** Reads new entries now (coalesced with a read already under way). */
  nudge(): void {
    if (this.stopped) return;
    if (this.reading) {
      this.again = true;
      return;
    }
    this.reading = this.read()
      .catch((error: unknown) => this.log.warn({ err: error }, 'reading the auth change log failed; retrying'))
      .finally(() => {
        this.reading = undefined;
        if (this.again) {
          this.again = false;
          this.nudge();
        }
      });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    await this.reading;
  }

  private async read(): Promise<void> {
    const since = this.now() - this.options.windowSeconds;
    for (;;) {
      const page = await this.sessions.readChanges({ after: this.cursor, since, limit: this.options.pageSize });
      for (const change of page) {
        this.apply(change);
        this.cursor = change.id;
      }
      if (page.length < this.options.pageSize) return;
    }
  }
}
