import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { HubMetrics } from '../hub/hub.js';
import type { SchedulerMetrics } from '../scheduler/release-scheduler.js';
import type { ReleasedEvent } from '../store/store.js';

/**
 * Prometheus metrics of one Broker instance, on its own registry (so that two instances in one
 * process, or a host application's metrics, never collide).
 */
export class Metrics implements HubMetrics, SchedulerMetrics {
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
  private readonly lateness = new Histogram({
    name: 'broker_release_lateness_seconds',
    help: 'Release time minus due time, for events inserted before they fell due.',
    buckets: [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 5],
    registers: [this.registry],
  });

  constructor(options: { readonly defaultMetrics: boolean }) {
    if (options.defaultMetrics) collectDefaultMetrics({ register: this.registry });
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

  released(events: readonly ReleasedEvent[]): void {
    this.releasesCounter.inc(events.length);
    for (const e of events) {
      // A backdated insert was never waiting, so it has no lateness to report.
      if (e.insertedAt < e.timestamp) this.lateness.observe(Math.max(0, e.releasedAt - e.timestamp));
    }
  }
}
