/**
 * Collects the items submitted during one turn of the event loop and hands them to `flush`
 * together (group commit): N concurrent inserts cost one transaction and one fsync instead of N.
 * Each submitter's promise settles with its own result only after `flush` returned (or its
 * promise resolved), so nothing is acknowledged before it is committed. If `flush` fails, every
 * item of that batch rejects. At most `maxInFlight` batches are being flushed at once, started in
 * submission order; items arriving meanwhile form the next batch.
 */
export class MicroBatcher<In, Out> {
  private pending: { item: In; resolve: (out: Out) => void; reject: (error: unknown) => void }[] = [];
  /** The weight of `pending`. */
  private pendingWeight = 0;
  private scheduled = false;
  private readonly inFlight = new Set<Promise<void>>();

  constructor(
    private readonly flush: (items: readonly In[]) => readonly Out[] | Promise<readonly Out[]>,
    /** Upper bound on one batch, so one transaction stays short (in `weigh` units: rows). */
    private readonly maxBatch: number,
    /**
     * Batches flushed at once. 1 when a flush must see the previous one finished; 2 lets a
     * writer that runs work in arrival order (a writer thread) commit the next batch while the
     * previous one's answers are being sent, so neither side waits for the other.
     */
    private readonly maxInFlight = 1,
    /** An item's share of `maxBatch` (default 1; a batch of 100 rows weighs 100). */
    private readonly weigh: (item: In) => number = () => 1,
    /**
     * While a batch is in flight, another starts only once this much weight waits (with none in
     * flight, whatever waits goes). 1 (default): at once. More keeps batches from splitting into a
     * large one and a sliver, when each flush has a fixed cost and waits for the one before it.
     */
    private readonly overlapAt = 1,
  ) {}

  submit(item: In): Promise<Out> {
    return new Promise<Out>((resolve, reject) => {
      this.pending.push({ item, resolve, reject });
      this.pendingWeight += this.weigh(item);
      this.schedule();
    });
  }

  /**
   * Settles once the batches being flushed now have finished (their `flush` has returned, so
   * whatever it reported on the way is reported); undefined when none is in flight. Batches
   * started later are not waited for.
   */
  settled(): Promise<void> | undefined {
    if (this.inFlight.size === 0) return undefined;
    return Promise.all(this.inFlight).then(() => {});
  }

  /** Resolves once everything submitted so far is flushed (used on close). */
  async drain(): Promise<void> {
    while (this.inFlight.size > 0 || this.pending.length > 0) {
      if (this.mayStart()) this.run();
      else await Promise.race(this.inFlight);
    }
  }

  /** Whether another batch may start now. */
  private mayStart(): boolean {
    if (this.pending.length === 0 || this.inFlight.size >= this.maxInFlight) return false;
    return this.inFlight.size === 0 || this.pendingWeight >= this.overlapAt;
  }

  private schedule(): void {
    if (this.scheduled || !this.mayStart()) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.run();
    });
  }

  private run(): void {
    if (!this.mayStart()) return;
    // As many items as fit in maxBatch, and always at least one (an item heavier than the bound
    // goes alone).
    let count = 0;
    let weight = 0;
    while (count < this.pending.length) {
      const w = this.weigh((this.pending[count] as { item: In }).item);
      if (count > 0 && weight + w > this.maxBatch) break;
      weight += w;
      count++;
    }
    const batch = this.pending.splice(0, count);
    this.pendingWeight -= weight;
    // The flush starts in a microtask, after the batch is registered as in flight: a flush that
    // throws synchronously (better-sqlite3 does) still finds it there when `finally` removes it.
    const flushing: Promise<void> = Promise.resolve()
      .then(() => this.flush(batch.map((p) => p.item)))
      .then(
        (results) => batch.forEach((p, i) => p.resolve(results[i] as Out)),
        (error: unknown) => {
          for (const p of batch) p.reject(error);
        },
      )
      .finally(() => {
        this.inFlight.delete(flushing);
        if (this.pending.length > 0) this.schedule();
      });
    this.inFlight.add(flushing);
  }
}
