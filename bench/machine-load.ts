/**
 * How busy the machine is with processes that are not the suite's: the whole machine's CPU time
 * (/proc/stat) minus that of this process, its children and the PostgreSQL backends serving its
 * own database (see trackAuxPids), sampled every 500 ms. The suite
 * measures on a shared 2-core machine; figures taken while something else ran are not
 * comparable, so each run records this and the runner waits for a quiet machine first.
 */
import fs from 'node:fs';
import { auxPids, liveChildPids } from './children.js';
import { clockMs, sleep } from './clock.js';
import { processCpuTicksNs, selfCpuNs } from './proc-stats.js';

const NS_PER_TICK = 1e7;

/**
 * Busy time of the whole machine: user + nice + system + steal. irq and softirq are left out:
 * on loopback most of them are the suite's own network traffic, charged to no process. Steal
 * (time the hypervisor gave to someone else) counts, since it is CPU the suite did not get.
 */
function machineBusyNs(): number {
  try {
    const line = fs.readFileSync('/proc/stat', 'latin1').split('\n', 1)[0] ?? '';
    const v = line.trim().split(/\s+/).slice(1).map(Number);
    const busy = (v[0] ?? 0) + (v[1] ?? 0) + (v[2] ?? 0) + (v[7] ?? 0);
    return busy * NS_PER_TICK;
  } catch {
    return Number.NaN;
  }
}

/** The suite's children plus the auxiliary processes working for it. */
function ownPids(): number[] {
  return [...new Set([...liveChildPids(), ...auxPids()])];
}

function ourCpuNs(pids: number[]): Map<number, number> {
  const m = new Map<number, number>();
  m.set(0, selfCpuNs());
  for (const pid of pids) {
    const v = processCpuTicksNs(pid);
    if (!Number.isNaN(v)) m.set(pid, v);
  }
  return m;
}

export interface LoadReport {
  /** CPU used by other processes, % of one core, averaged over the sampled time. */
  foreignPctOfCore: number;
  /** Highest 500 ms sample of the same. */
  foreignPeakPct: number;
  seconds: number;
}

export class LoadSampler {
  private timer: NodeJS.Timeout | null = null;
  private foreignNs = 0;
  private peak = 0;
  private sampledMs = 0;
  private last: { t: number; busy: number; ours: Map<number, number> } | null = null;

  start(): void {
    this.last = { t: clockMs(), busy: machineBusyNs(), ours: ourCpuNs(ownPids()) };
    this.timer = setInterval(() => this.sample(), 500);
    this.timer.unref();
  }

  private sample(): void {
    const prev = this.last;
    if (prev === null) return;
    const now = { t: clockMs(), busy: machineBusyNs(), ours: ourCpuNs(ownPids()) };
    let oursDelta = 0;
    for (const [pid, v] of now.ours) {
      // a process first seen now was born in this interval: all its time falls in it
      oursDelta += Math.max(0, v - (prev.ours.get(pid) ?? 0));
    }
    const foreign = Math.max(0, now.busy - prev.busy - oursDelta);
    const ms = now.t - prev.t;
    if (ms > 0 && !Number.isNaN(foreign)) {
      this.foreignNs += foreign;
      this.sampledMs += ms;
      this.peak = Math.max(this.peak, (foreign / 1e6 / ms) * 100);
    }
    this.last = now;
  }

  stop(): LoadReport {
    this.sample();
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    return {
      foreignPctOfCore: this.sampledMs > 0 ? (this.foreignNs / 1e6 / this.sampledMs) * 100 : Number.NaN,
      foreignPeakPct: this.peak,
      seconds: this.sampledMs / 1000,
    };
  }
}

/**
 * Waits until other processes use less than `thresholdPct` of one core over a 1 s window, for
 * at most `maxWaitS`. Returns the last window's figure.
 */
export async function waitForQuietMachine(thresholdPct: number, maxWaitS: number): Promise<number> {
  if (maxWaitS <= 0) return 0;
  const until = clockMs() + maxWaitS * 1000;
  for (;;) {
    const s = new LoadSampler();
    s.start();
    await sleep(1000);
    const r = s.stop();
    if (r.foreignPctOfCore < thresholdPct || clockMs() >= until) return r.foreignPctOfCore;
  }
}
