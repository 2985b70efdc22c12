/**
 * Runs tasks one after the other per key, and not at all in parallel for one key: a task waits
 * for the one before it with the same key to settle (whatever its outcome). Memory: one entry per
 * key with a task in flight.
 */
export class KeyedQueue {
  private readonly tails = new Map<string, Promise<unknown>>();

  run<T>(key: string, task: () => Promise<T>): Promise<T> {
    const before = this.tails.get(key) ?? Promise.resolve();
    const mine = before.then(task, task);
    const tail = mine.catch(() => undefined);
    this.tails.set(key, tail);
    void tail.then(() => {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    });
    return mine;
  }

  get size(): number {
    return this.tails.size;
  }
}
