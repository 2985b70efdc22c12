import type { Logger } from 'pino';
import type { ReleaseWaker } from '../events/event-service.js';
import type { Fanout } from '../fanout/fanout.js';
import type { ReleaseScheduler } from './release-scheduler.js';

/**
 * Seconds other nodes wait past a due time before trying to release an event inserted elsewhere:
 * the inserting node releases it on time, and the others only cover for it if it died, instead
 * of all queueing on the release lock at the same instant.
 */
export const REMOTE_GRACE_SECONDS = 0.05;

/**
 * Wakes this node's scheduler at once and the other nodes' through the fan-out, coalescing the
 * wakes of one event-loop turn (a burst of inserts) into one notification.
 */
export class ClusterWaker implements ReleaseWaker {
  private earliest: number | undefined;
  private recompute = false;
  private scheduled = false;

  constructor(
    private readonly scheduler: ReleaseScheduler,
    private readonly fanout: Fanout,
    private readonly log: Logger,
  ) {
    fanout.onWake((dueAt) => {
      if (dueAt === undefined) scheduler.rearm();
      else scheduler.wake(dueAt + REMOTE_GRACE_SECONDS);
    });
  }

  wake(dueAt: number): void {
    this.scheduler.wake(dueAt);
    this.earliest = this.earliest === undefined ? dueAt : Math.min(this.earliest, dueAt);
    this.flushSoon();
  }

  rearm(): void {
    this.scheduler.rearm();
    this.recompute = true;
    this.flushSoon();
  }

  private flushSoon(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      const earliest = this.earliest;
      const recompute = this.recompute;
      this.earliest = undefined;
      this.recompute = false;
      const sends: Promise<void>[] = [];
      if (earliest !== undefined) sends.push(this.fanout.wakeOthers(earliest));
      if (recompute) sends.push(this.fanout.wakeOthers(undefined));
      Promise.all(sends).catch((error: unknown) => {
        // Not fatal: other nodes still release it at their next timer or reconnect catch-up.
        this.log.warn({ err: error }, 'could not wake other nodes');
      });
    });
  }
}
