/**
 * Fixed-window attempt counter for login and sign-up, keyed by client IP and by username, so
 * that neither one address trying many accounts nor many addresses trying one account get more
 * than `limit` bcrypt comparisons per window. Hand-written because @fastify/rate-limit counts
 * one key per route and runs before the body (and so the username) is parsed.
 * Memory is bounded: at most `maxKeys` keys; the oldest window is evicted first.
 */
export class LoginThrottle {
  private readonly windows = new Map<string, { start: number; count: number }>();

  constructor(
    private readonly limit: number,
    private readonly windowMs = 60_000,
    private readonly maxKeys = 100_000,
    private readonly now: () => number = Date.now,
  ) {}

  /** Counts one attempt for every key; false if any of them is over the limit. */
  attempt(keys: readonly string[]): boolean {
    const t = this.now();
    let allowed = true;
    for (const key of keys) {
      let w = this.windows.get(key);
      if (!w || t - w.start >= this.windowMs) {
        this.windows.delete(key);
        w = { start: t, count: 0 };
        this.windows.set(key, w);
        this.evict();
      }
      w.count += 1;
      if (w.count > this.limit) allowed = false;
    }
    return allowed;
  }

  /** Seconds until the given keys may try again (for Retry-After). */
  retryAfter(keys: readonly string[]): number {
    const t = this.now();
    let wait = 0;
    for (const key of keys) {
      const w = this.windows.get(key);
      if (w && w.count > this.limit) wait = Math.max(wait, w.start + this.windowMs - t);
    }
    return Math.max(1, Math.ceil(wait / 1000));
  }

  private evict(): void {
    // Map iterates in insertion order and a renewed window is re-inserted, so the first key is the oldest.
    while (this.windows.size > this.maxKeys) {
      const oldest = this.windows.keys().next().value;
      if (oldest === undefined) return;
      this.windows.delete(oldest);
    }
  }
}
