/**
 * Collects the items submitted during one turn of the event loop and hands them to `flush`
 * together (group commit): N concurrent inserts cost one transaction and one fsync instead of N.
 * Each submitter's promise settles with its own result only after `flush` returned, so nothing
 * is acknowledged before it is committed. If `flush` throws, every item of that batch rejects.
 */
export class MicroBatcher<In, Out> {
  private pending: { item: In; resolve: (out: Out) => void; reject: (error: unknown) => void }[] = [];
  private scheduled = false;

  constructor(
    private readonly flush: (items: readonly In[]) => readonly Out[],
    /** Upper bound on one batch, so one transaction stays short (rows). */
    private readonly maxBatch: number,
  ) {}

  submit(item: In): Promise<Out> {
    return new Promise<Out>((resolve, reject) => {
      this.pending.push({ item, resolve, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.run());
      }
    });
  }

  /** Flushes now whatever is waiting (used on close). */
  drain(): void {
    while (this.pending.length > 0) this.flushSome();
  }

  private run(): void {
    this.scheduled = false;
    this.drain();
  }

  private flushSome(): void {
    const batch = this.pending.splice(0, this.maxBatch);
    let results: readonly Out[];
    try {
      results = this.flush(batch.map((p) => p.item));
    } catch (error) {
      for (const p of batch) p.reject(error);
      return;
    }
    batch.forEach((p, i) => p.resolve(results[i] as Out));
  }
}
