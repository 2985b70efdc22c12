import type { Logger } from 'pino';
import type { AccessPolicy } from '../access/access-policy.js';
import type { Keep } from '../access/rules.js';
import type { KeepLimits, ReleasedEvent, RetentionStore, Seq } from '../store/store.js';

export interface PrunerOptions {
  /** Milliseconds between rounds (PRUNE_INTERVAL). */
  readonly intervalMs: number;
  /** Versions one store call removes at most: bounds each transaction (and the writer's pause). */
  readonly batch: number;
  /** Names a round takes from the sweep, and rows from the age scan. */
  readonly page: number;
}

export interface PrunerMetrics {
  pruned(count: number): void;
}

const DAY_S = 86_400;

/**
 * Retention: removes the old versions the rules' `keep` no longer keeps, in small bounded store
 * calls, every PRUNE_INTERVAL, off the request path (on SQLite the deletes run on the writer
 * thread; between two calls the event loop is free). Which names it visits in a round:
 *
 * - names this node released since the last round (a new version may push an old one past
 *   `versions`);
 * - names whose versions aged past `days`: a scan of released versions in seq order (which is
 *   release-time order), one cursor per `days` value, that stops at the first one too young;
 * - every name, once, after a start or a change of rules (a page of names per round).
 *
 * Every node prunes; the deletes are idempotent, so two nodes on one name only repeat work.
 */
export class Pruner {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private readonly dirty = new Set<string>();
  /** Where the sweep of every name stands; undefined when done. */
  private sweepAfter: string | undefined = '';
  /** The age scan's position per `days` value: the last seq looked at. */
  private readonly ageCursors = new Map<number, Seq>();
  private stopped = false;

  constructor(
    private readonly store: RetentionStore,
    private readonly access: AccessPolicy,
    private readonly options: PrunerOptions,
    private readonly metrics: PrunerMetrics,
    private readonly log: Logger,
    private readonly now: () => number = () => Date.now() / 1000,
  ) {}

  start(): void {
    this.timer = setInterval(() => {
      this.running ??= this.catchUp().finally(() => {
        this.running = undefined;
      });
    }, this.options.intervalMs);
    this.timer.unref();
  }

  /** Rounds back to back while a backlog remains (yielding between), then waits for the timer. */
  private async catchUp(): Promise<void> {
    while ((await this.round()) && !this.stopped) await new Promise((resolve) => setImmediate(resolve));
  }

  /** Releases made by this node: their names may have a version too many now. */
  released(events: readonly ReleasedEvent[]): void {
    if (!this.access.rules.retains) return;
    for (const e of events) if (this.access.access(e.event)?.keep) this.dirty.add(e.event);
  }

  /** The rules changed (SIGHUP): every name is visited again, ages are scanned from the start. */
  rulesChanged(): void {
    this.sweepAfter = '';
    this.ageCursors.clear();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    await this.running;
  }

  /** One round; resolves with whether work is left (a sweep or age scan under way). */
  async round(): Promise<boolean> {
    if (!this.access.rules.retains) return false;
    let more = false;
    try {
      const names = new Set(this.dirty);
      this.dirty.clear();
      if (this.sweepAfter !== undefined) {
        const page = await this.store.names(this.sweepAfter, this.options.page);
        for (const n of page) names.add(n);
        this.sweepAfter = page.length < this.options.page ? undefined : page[page.length - 1];
        more = this.sweepAfter !== undefined;
      }
      const aged = await this.agedNames();
      more ||= aged.more;
      for (const n of aged.names) names.add(n);
      for (const name of names) {
        if (this.stopped) return false;
        const keep = this.access.access(name)?.keep;
        if (keep) await this.pruneName(name, keep);
      }
    } catch (error) {
      this.log.warn({ err: error }, 'pruning old versions failed; the next round retries');
      return false;
    }
    return more;
  }

  private async pruneName(name: string, keep: Keep): Promise<void> {
    const limits: KeepLimits = {
      ...(keep.versions === undefined ? {} : { versions: keep.versions }),
      ...(keep.days === undefined ? {} : { before: this.now() - keep.days * DAY_S }),
    };
    for (;;) {
      const { deleted, more } = await this.store.pruneName(name, limits, this.options.batch);
      if (deleted > 0) this.metrics.pruned(deleted);
      if (!more || this.stopped) return;
    }
  }

  /** Names with released versions older than their rule's `days`, from each cursor on. */
  private async agedNames(): Promise<{ names: Set<string>; more: boolean }> {
    const names = new Set<string>();
    let more = false;
    const dayValues = new Set<number>();
    for (const rule of this.access.rules.rules) if (rule.keep?.days !== undefined) dayValues.add(rule.keep.days);
    for (const days of dayValues) {
      const before = this.now() - days * DAY_S;
      let after = this.ageCursors.get(days) ?? 0;
      const rows = await this.store.releasedAfter(after, this.options.page);
      let young = false;
      for (const row of rows) {
        if (row.releasedAt >= before) {
          young = true; // the rest is younger (seq order is release order)
          break;
        }
        after = row.seq;
        if (this.access.access(row.event)?.keep?.days === days) names.add(row.event);
      }
      more ||= !young && rows.length === this.options.page;
      this.ageCursors.set(days, after);
    }
    return { names, more };
  }
}
