/**
 * Items due at a time (epoch ms), with one timer for all of them: `onDue` receives every item
 * whose time has come. Items are kept in buckets of one second, so thousands of streams whose
 * tokens expire in the same second cost one timer callback, and finding the next due bucket
 * scans the buckets (at most one per distinct second still ahead).
 */
export class DeadlineQueue<T> {
  private readonly buckets = new Map<number, Set<T>>();
  private timer: NodeJS.Timeout | undefined;
  private armedFor: number | undefined;

  constructor(
    private readonly onDue: (items: readonly T[]) => void,
    private readonly now: () => number = Date.now,
  ) {}

  get size(): number {
    let n = 0;
    for (const b of this.buckets.values()) n += b.size;
    return n;
  }

  add(atMs: number, item: T): void {
    const second = Math.ceil(atMs / 1000);
    let bucket = this.buckets.get(second);
    if (!bucket) {
      bucket = new Set();
      this.buckets.set(second, bucket);
    }
    bucket.add(item);
    if (this.armedFor === undefined || second < this.armedFor) this.arm(second);
  }

  remove(atMs: number, item: T): void {
    const second = Math.ceil(atMs / 1000);
    const bucket = this.buckets.get(second);
    if (!bucket) return;
    bucket.delete(item);
    if (bucket.size === 0) this.buckets.delete(second);
  }

  clear(): void {
    this.buckets.clear();
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.armedFor = undefined;
  }

  private arm(second: number): void {
    if (this.timer) clearTimeout(this.timer);
    this.armedFor = second;
    // setTimeout's longest delay is 2^31 − 1 ms; farther deadlines are reached in hops.
    const delay = Math.min(2_147_000_000, Math.max(0, second * 1000 - this.now()));
    this.timer = setTimeout(() => this.fire(), delay);
    this.timer.unref();
  }

  private fire(): void {
    this.timer = undefined;
    this.armedFor = undefined;
    const now = this.now();
    const due: T[] = [];
    let next: number | undefined;
    for (const [second, bucket] of this.buckets) {
      if (second * 1000 <= now) {
        for (const item of bucket) due.push(item);
        this.buckets.delete(second);
      } else if (next === undefined || second < next) next = second;
    }
    if (next !== undefined) this.arm(next);
    if (due.length > 0) this.onDue(due);
  }
}
