/** Reconnection delays: exponential from `baseMs`, capped at `maxMs`, with "equal jitter". */
export interface BackoffOptions {
  /** Delay of the first reconnection (before jitter); Broker's `retry:` sets it. */
  readonly baseMs: number;
  /** Largest delay (before jitter). */
  readonly maxMs: number;
}

/**
 * Delay before reconnection attempt `attempt` (1 for the first after a loss): half of the capped
 * exponential delay plus a random part of the other half, so many clients dropped at once (a
 * server restart) do not all come back in the same millisecond.
 */
export function reconnectDelay(attempt: number, options: BackoffOptions, random: () => number = Math.random): number {
  const steps = Math.max(0, Math.min(attempt - 1, 30));
  const capped = Math.min(options.maxMs, options.baseMs * 2 ** steps);
  const half = capped / 2;
  return Math.round(half + random() * half);
}
