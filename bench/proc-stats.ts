/** CPU time and resident memory of another process, from /proc (Linux). */
import fs from 'node:fs';

const CLOCK_TICKS_PER_S = 100;

/**
 * Cumulative CPU time of all threads of `pid` in nanoseconds: the sum of
 * /proc/<pid>/task/<tid>/schedstat (ns precision). Falls back to utime+stime of
 * /proc/<pid>/stat (10 ms ticks). Returns NaN when the process is gone.
 */
export function processCpuNs(pid: number): number {
  try {
    let total = 0;
    for (const tid of fs.readdirSync(`/proc/${pid}/task`)) {
      try {
        const text = fs.readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'latin1');
        total += Number(text.slice(0, text.indexOf(' ')));
      } catch {
        // the thread exited between readdir and read
      }
    }
    if (total > 0) return total;
  } catch {
    // no schedstat: fall through
  }
  return processCpuTicksNs(pid);
}

/**
 * utime+stime of `pid` from /proc/<pid>/stat in ns (10 ms ticks). Unlike the schedstat sum it
 * keeps the time of threads that have exited, so it never goes backwards. NaN when gone.
 */
export function processCpuTicksNs(pid: number): number {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'latin1');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_S) * 1e9;
  } catch {
    return Number.NaN;
  }
}

/** VmRSS of `pid` in kB (NaN when the process is gone). */
export function processRssKb(pid: number): number {
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'latin1');
    const m = /VmRSS:\s+(\d+)\s+kB/.exec(status);
    return m?.[1] === undefined ? Number.NaN : Number(m[1]);
  } catch {
    return Number.NaN;
  }
}

/** This process's own CPU time (all threads) in nanoseconds. */
export function selfCpuNs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) * 1000;
}
