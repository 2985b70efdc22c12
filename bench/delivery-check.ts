import type { Collector } from './scenario-types.js';
import type { PoolReport } from './subscriber-pool.js';

/**
 * Adds the exactly-once check: every one of `subscribers` holds every message 0 … expected−1,
 * none twice, in release order, and no stream was dropped.
 */
export function checkExactlyOnce(out: Collector, name: string, report: PoolReport, subscribers: number, expected: number): boolean {
  const ok =
    report.subscribers === subscribers &&
    report.missing === 0 &&
    report.duplicates === 0 &&
    report.outOfOrder === 0 &&
    report.unexpected === 0 &&
    report.dropped === 0;
  out.check(
    name,
    ok,
    `${report.subscribers}/${subscribers} streams open × ${expected} msgs: missing ${report.missing} ` +
      `(on ${report.subscribersWithMissing} streams), duplicates ${report.duplicates}, out of order ${report.outOfOrder}, ` +
      `unexpected ${report.unexpected}, dropped streams ${report.dropped}`,
  );
  return ok;
}
