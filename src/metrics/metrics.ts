import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { HubMetrics } from '../hub/hub.js';
import type { PrunerMetrics } from '../retention/pruner.js';
import type { SchedulerMetrics } from '../scheduler/release-scheduler.js';
import type { ReleasedEvent } from '../store/store.js';

/** Wait on the first scrape: a few ticks of the lag monitor's 10 ms timer (ms). */
const FIRST_LAG_SAMPLES_MS = 35;

/**
 * Prometheus metrics of one Broker instance, on its own registry (so that two instances in one
 * process, or a host application's metrics, never collide).
 */
export class Metrics implements HubMetrics, SchedulerMetrics, PrunerMetrics {
  readonly registry = new Registry();
  private readonly subscriberGauge = new Gauge({
    name: 'broker_subscribers',
    help: 'Open SSE streams on this node.',
    registers: [this.registry],
  });
  private readonly droppedCounter = new Counter({
    name: 'broker_dropped_subscribers_total',
    help: 'Streams closed because the client could not keep up (send buffer over SEND_BUFFER_LIMIT).',
    registers: [this.registry],
  });
  private readonly deliveredCounter = new Counter({
    name: 'broker_delivered_frames_total',
    help: 'Event frames written to streams.',
    registers: [this.registry],
  });
  readonly inserts = new Counter({
    name: 'broker_inserts_total',
    help: 'Events inserted (acknowledged after commit).',
    registers: [this.registry],
  });
  private readonly releasesCounter = new Counter({
    name: 'broker_releases_total',
    help: 'Events released by this node.',
    registers: [this.registry],
  });
  private readonly prunedCounter = new Counter({
    name: 'broker_pruned_total',
    help: 'Old versions removed by retention (a rule\'s keep) on this node.',
    registers: [this.registry],
  });
  private readonly lateness = new Histogram({
    name: 'broker_release_lateness_seconds',
    help: 'Release time minus due time, for events inserted before they fell due.',
    buckets: [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 5],
    registers: [this.registry],
  });

  private defaultsPending: boolean;

  constructor(options: { readonly defaultMetrics: boolean }) {
    this.defaultsPending = options.defaultMetrics;
  }

  /**
   * The text of GET /metrics. Node.js' default metrics (prom-client's) are registered at the
   * first scrape, not at start-up: one of them, the event-loop lag, samples the loop on a 10 ms
   * timer — 100 wake-ups a second, ≈ 0.7 % of a core on a small VM, most of what an idle
   * Broker costs — which a server that nobody scrapes should not pay. From the first scrape on
   * they run as usual; that scrape waits for a few lag samples so it reports real values.
   */
  async scrape(): Promise<string> {
    if (this.defaultsPending) {
      this.defaultsPending = false;
      collectDefaultMetrics({ register: this.registry });
      await new Promise((resolve) => setTimeout(resolve, FIRST_LAG_SAMPLES_MS));
    }
    return this.registry.metrics();
  }

  subscribers(count: number): void {
    this.subscriberGauge.set(count);
  }

  dropped(): void {
    this.droppedCounter.inc();
  }

  delivered(frames: number): void {
    if (frames > 0) this.deliveredCounter.inc(frames);
  }

  pruned(count: number): void {
    if (count > 0) this.prunedCounter.inc(count);
  }

  released(events: readonly ReleasedEvent[]): void {
    this.releasesCounter.inc(events.length);
    for (const e of events) {
      // A backdated insert was never waiting, so it has no lateness to report.
      if (e.insertedAt < e.timestamp) this.lateness.observe(Math.max(0, e.releasedAt - e.timestamp));
    }
  }
}
