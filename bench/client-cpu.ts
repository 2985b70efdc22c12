import type { CpuSource } from './cpu-meter.js';
import { selfCpuNs } from './proc-stats.js';
import type { SubscriberPool } from './subscriber-pool.js';

/** CPU of the whole load generator: this process (publisher, HTTP clients) plus the subscriber workers. */
export function clientCpuSource(pool: SubscriberPool | null): CpuSource {
  return () => selfCpuNs() + (pool === null ? 0 : pool.cpuNs());
}
