import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { HubMetrics } from '../hub/hub.js';
import type { PrunerMetrics } from '../retention/pruner.js';
import type { SchedulerMetrics } from '../scheduler/release-scheduler.js';
import type { ReleasedEvent, StorageStats } from '../store/store.js';

/** Storage figures are recomputed at most this often (ms). */
const STATS_TTL_MS = 10_000;

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
  private readonly stages = new Histogram({
    name: 'broker_fanout_stage_seconds',
    help: 'Where a released batch spends its time on this node: notify (release on another node → this node hears of it), read (reading it back), deliver (writing it to every stream).',
    labelNames: ['stage'] as const,
    buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1],
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
  private storage: { stats(): Promise<StorageStats>; full(): boolean } | undefined;
  private statsCache: { at: number; value: Promise<StorageStats | undefined> } | undefined;

  /**
   * Storage gauges, read from the store at a scrape at most every STATS_TTL_MS (counting
   * versions is a pass over an index; a scrape every few seconds must not repeat it).
   */
  private readonly storageBytes = new Gauge({
    name: 'broker_storage_bytes',
    help: 'Bytes the database takes (SQLite: the file and its WAL; PostgreSQL: the database).',
    registers: [this.registry],
    collect: async () => {
      const stats = await this.storageStats();
      if (stats) this.storageBytes.set(stats.bytes);
    },
  });
  private readonly versions = new Gauge({
    name: 'broker_versions',
    help: 'Event versions stored, by state: pending (not yet released), released, cancelled.',
    labelNames: ['state'] as const,
    registers: [this.registry],
    collect: async () => {
      const stats = await this.storageStats();
      if (!stats) return;
      this.versions.set({ state: 'pending' }, stats.pending);
      this.versions.set({ state: 'released' }, stats.released);
      this.versions.set({ state: 'cancelled' }, stats.cancelled);
    },
  });
  private readonly oldestPending = new Gauge({
    name: 'broker_oldest_pending_due_timestamp_seconds',
    help: 'Due time (epoch seconds) of the oldest pending version; absent when none is pending.',
    registers: [this.registry],
    collect: async () => {
      const stats = await this.storageStats();
      if (!stats) return;
      if (stats.oldestPendingDue === undefined) this.oldestPending.reset();
      else this.oldestPending.set(stats.oldestPendingDue);
    },
  });
  private readonly storageFull = new Gauge({
    name: 'broker_storage_full',
    help: '1 since an insert failed for lack of space (507 storage_full), until one succeeds again.',
    registers: [this.registry],
    collect: () => {
      this.storageFull.set(this.storage?.full() ? 1 : 0);
    },
  });

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

  /** Where the storage gauges come from (the store). */
  watchStorage(source: { stats(): Promise<StorageStats>; full(): boolean }): void {
    this.storage = source;
  }

  /** The store's figures, shared by the gauges of one scrape; undefined if it did not answer (the last values stay). */
  private storageStats(): Promise<StorageStats | undefined> {
    if (!this.storage) return Promise.resolve(undefined);
    const now = Date.now();
    if (!this.statsCache || now - this.statsCache.at > STATS_TTL_MS) {
      this.statsCache = { at: now, value: this.storage.stats().catch(() => undefined) };
    }
    return this.statsCache.value;
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

  stage(stage: 'notify' | 'read' | 'deliver', seconds: number): void {
    this.stages.observe({ stage }, seconds);
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
