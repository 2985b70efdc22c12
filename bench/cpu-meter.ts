import { clockMs } from './clock.js';

/** A source of cumulative CPU nanoseconds (one process or the sum of several). */
export type CpuSource = () => number;

export interface CpuWindow {
  cpuNs: number;
  wallMs: number;
  /** CPU used over the window as a percentage of one core (200 = two cores busy). */
  pctOfCore: number;
}

/** Measures the CPU a source used between start() and read(). */
export class CpuMeter {
  private cpu0 = 0;
  private t0 = 0;

  constructor(private readonly source: CpuSource) {
    this.start();
  }

  start(): void {
    this.cpu0 = this.source();
    this.t0 = clockMs();
  }

  read(): CpuWindow {
    const cpuNs = this.source() - this.cpu0;
    const wallMs = clockMs() - this.t0;
    return { cpuNs, wallMs, pctOfCore: wallMs > 0 ? (cpuNs / 1e6 / wallMs) * 100 : Number.NaN };
  }
}
