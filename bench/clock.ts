import { performance } from 'node:perf_hooks';

/**
 * Wall-clock time in milliseconds with sub-millisecond resolution. Every process on the machine
 * derives it from the same system clock, so a time taken in the publisher can be compared with
 * one taken in a subscriber worker.
 */
export function clockMs(): number {
  return performance.timeOrigin + performance.now();
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
}

/** A fresh event name per run, so Broker's on-connect snapshot never contains it. */
export function uniqueName(prefix: string): string {
  return `${prefix}_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 8)}`;
}
