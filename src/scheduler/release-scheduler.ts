import type { Logger } from 'pino';
import type { Fanout } from '../fanout/fanout.js';
import type { EventStore, ReleasedEvent } from '../store/store.js';

export interface SchedulerMetrics {
  released(events: readonly ReleasedEvent[]): void;
}

/** setTimeout's longest delay (ms); a later due time is reached in several hops. */
const MAX_TIMER_MS = 2 ** 31 - 1;
/** Wait before retrying after the store failed (ms). */
const RETRY_AFTER_FAILURE_MS = 1000;

/**
 * Releases events when their timestamp is reached. One timer, armed for the earliest pending
 * due time (one index probe), re-armed on insert and cancel: no polling loop and no scan. A run
 * releases everything due, in timestamp order, in batches of `batchSize`, then tells the
 * fan-out the highest seq released. Runs never overlap; a wake during a run makes it go again.
 */
export class ReleaseScheduler {
  private timer: NodeJS.Timeout | undefined;
  private armedAt: number | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private soon = false;
  private stopped = false;
  private readonly listeners: ((events: readonly ReleasedEvent[]) => void)[] = [];

  constructor(
    private readonly store: EventStore,
    private readonly fanout: Fanout,
    private readonly metrics: SchedulerMetrics,
    private readonly log: Logger,
    private readonly batchSize = 1000,
    private readonly now: () => number = () => Date.now() / 1000,
  ) {}

  /** Releases whatever fell due while Broker was down, then arms for the next one. */
  async start(): Promise<void> {
    await this.run();
  }

  /**
   * Hears every batch this node releases, with its events, before the fan-out announces it
   * (the local hub takes them so that it need not read them back).
   */
  onRelease(listener: (events: readonly ReleasedEvent[]) => void): void {
    this.listeners.push(listener);
  }

  /** An event due at `dueAt` (epoch s) was stored. */
  wake(dueAt: number): void {
    if (this.stopped) return;
    if (dueAt <= this.now()) this.runSoon();
    else if (this.running) this.again = true;
    else if (this.armedAt === undefined || dueAt < this.armedAt) this.arm(dueAt);
  }

  /**
   * Releases this node made outside a run (an insert's own transaction released what was due):
   * counted and fanned out like a run's. A full batch may have left more due: run for them.
   */
  announce(released: readonly ReleasedEvent[]): void {
    const last = released[released.length - 1];
    if (!last) return;
    this.releasedLocally(released);
    this.fanout.publish(last.seq).catch((error: unknown) => this.log.error({ err: error }, 'fan-out failed'));
    if (released.length >= this.batchSize) this.runSoon();
  }

  /** The pending set changed in another way (a cancel, another node): recompute the timer. */
  rearm(): void {
    if (!this.stopped) this.runSoon();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.clear();
    await this.running;
  }

  /** Coalesces the wakes of one tick (a burst of inserts) into one run. */
  private runSoon(): void {
    if (this.running) {
      this.again = true;
      return;
    }
    if (this.soon) return;
    this.soon = true;
    this.clear();
    setImmediate(() => {
      this.soon = false;
      void this.run();
    });
  }

  private run(): Promise<void> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.clear();
    this.running = this.releaseAll().finally(() => {
      this.running = undefined;
      if (this.again && !this.stopped) this.runSoon();
    });
    return this.running;
  }

  private async releaseAll(): Promise<void> {
    try {
      do {
        this.again = false;
        for (;;) {
          const released = await this.store.releaseDue(this.now(), this.batchSize);
          if (released.length > 0) {
            this.releasedLocally(released);
            await this.fanout.publish((released[released.length - 1] as ReleasedEvent).seq);
          }
          if (released.length < this.batchSize || this.stopped) break;
        }
      } while (this.again && !this.stopped);
      const next = await this.store.nextDueAt();
      if (next !== undefined && !this.stopped) this.arm(next);
    } catch (error) {
      this.log.error({ err: error }, 'releasing due events failed; retrying');
      if (!this.stopped) this.arm(this.now() + RETRY_AFTER_FAILURE_MS / 1000);
    }
  }

  private releasedLocally(released: readonly ReleasedEvent[]): void {
    this.metrics.released(released);
    for (const listener of this.listeners) listener(released);
  }

  private arm(dueAt: number): void {
    this.clear();
    this.armedAt = dueAt;
    // Round up: firing a little early would only find nothing due and re-arm.
    const delay = Math.min(MAX_TIMER_MS, Math.max(0, Math.ceil((dueAt - this.now()) * 1000)));
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.armedAt = undefined;
      void this.run();
    }, delay);
  }

  private clear(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.armedAt = undefined;
  }
}
