/**
 * Collects the items submitted during one turn of the event loop and hands them to `flush`
 * together (group commit): N concurrent inserts cost one transaction and one fsync instead of N.
 * Each submitter's promise settles with its own result only after `flush` returned (or its
 * promise resolved), so nothing is acknowledged before it is committed. If `flush` fails, every
 * item of that batch rejects. Batches never overlap: items arriving while an asynchronous flush
 * runs form the next batch.
 */
export class MicroBatcher<In, Out> {
  private pending: { item: In; resolve: (out: Out) => void; reject: (error: unknown) => void }[] = [];
  private scheduled = false;
  private flushing: Promise<void> | undefined;

  constructor(
    private readonly flush: (items: readonly In[]) => readonly Out[] | Promise<readonly Out[]>,
    /** Upper bound on one batch, so one transaction stays short (rows). */
    private readonly maxBatch: number,
  ) {}

  submit(item: In): Promise<Out> {
    return new Promise<Out>((resolve, reject) => {
      this.pending.push({ item, resolve, reject });
      this.schedule();
    });
  }

  /** Resolves once everything submitted so far is flushed (used on close). */
  async drain(): Promise<void> {
    while (this.flushing || this.pending.length > 0) {
      if (this.flushing) await this.flushing;
      else await this.run();
    }
  }

  private schedule(): void {
    if (this.scheduled || this.flushing) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      void this.run();
    });
  }

  private run(): Promise<void> {
    if (this.flushing || this.pending.length === 0) return this.flushing ?? Promise.resolve();
    const batch = this.pending.splice(0, this.maxBatch);
    // The flush starts in a microtask, after `flushing` is set: a flush that throws synchronously
    // (better-sqlite3 does) must still find `flushing` assigned when its `finally` clears it.
    this.flushing = Promise.resolve()
      .then(() => this.flush(batch.map((p) => p.item)))
      .then(
        (results) => batch.forEach((p, i) => p.resolve(results[i] as Out)),
        (error: unknown) => {
          for (const p of batch) p.reject(error);
        },
      )
      .finally(() => {
        this.flushing = undefined;
        if (this.pending.length > 0) this.schedule();
      });
    return this.flushing;
  }
}
