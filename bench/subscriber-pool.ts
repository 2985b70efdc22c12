/**
 * Parent side of the subscriber workers: forks N subscriber-worker processes (each has its own
 * limit of open files), spreads connections over them and merges their counts and histograms.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { trackChild } from './children.js';
import { clockMs, sleep } from './clock.js';
import { processCpuNs } from './proc-stats.js';
import { Histogram } from './stats.js';
import {
  type ConnectResult,
  type ConnectSpec,
  isWorkerMessage,
  type ParentMessage,
  PHASES,
  type Progress,
  type WorkerReport,
} from './worker-protocol.js';

const WORKER_FILE = fileURLToPath(new URL('./subscriber-worker.ts', import.meta.url));

interface Pending {
  resolve: (value: unknown) => void;
  reject: (err: Error) => void;
}

interface Handle {
  child: ChildProcess;
  pending: Map<number, Pending>;
  progress: Progress;
  exited: boolean;
}

export interface PoolReport extends Omit<WorkerReport, 'histograms' | 'cpuUserUs' | 'cpuSystemUs'> {
  histograms: Histogram[];
}

export type ConnectOptions = Omit<ConnectSpec, 'count' | 'localAddress'>;

function emptyProgress(): Progress {
  return { received: 0, lastRecvAt: 0, open: 0, heartbeats: 0, dropped: 0 };
}

function execArgvWithTsx(): string[] {
  return process.execArgv.some((a) => a.includes('tsx')) ? process.execArgv : [...process.execArgv, '--import', 'tsx'];
}

export class SubscriberPool {
  private seq = 0;

  private constructor(private readonly handles: Handle[]) {}

  static async start(workers: number): Promise<SubscriberPool> {
    const handles: Handle[] = [];
    const ready: Promise<void>[] = [];
    for (let i = 0; i < workers; i++) {
      const child = trackChild(
        fork(WORKER_FILE, [], { execArgv: execArgvWithTsx(), stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }),
      );
      const handle: Handle = { child, pending: new Map(), progress: emptyProgress(), exited: false };
      handles.push(handle);
      ready.push(
        new Promise<void>((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error('subscriber worker did not start within 20 s')), 20_000);
          child.on('message', (msg: unknown) => {
            if (!isWorkerMessage(msg)) return;
            if (msg.type === 'ready') {
              clearTimeout(timer);
              resolve();
            } else if (msg.type === 'progress') {
              handle.progress = msg.progress;
            } else {
              const p = handle.pending.get(msg.seq);
              handle.pending.delete(msg.seq);
              if (p === undefined) return;
              if (msg.type === 'connected') p.resolve(msg.result);
              else if (msg.type === 'report') p.resolve(msg.report);
              else p.resolve(undefined);
            }
          });
          child.once('exit', (code, signal) => {
            clearTimeout(timer);
            handle.exited = true;
            const err = new Error(`subscriber worker exited (code ${code}, signal ${signal})`);
            for (const p of handle.pending.values()) p.reject(err);
            handle.pending.clear();
            reject(err);
          });
        }),
      );
    }
    const pool = new SubscriberPool(handles);
    try {
      await Promise.all(ready);
    } catch (err) {
      await pool.close();
      throw err;
    }
    return pool;
  }

  get size(): number {
    return this.handles.length;
  }

  pids(): number[] {
    return this.handles.map((h) => h.child.pid ?? -1).filter((pid) => pid > 0);
  }

  private request<T>(h: Handle, msg: ParentMessage, timeoutMs: number): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      if (h.exited) {
        reject(new Error('subscriber worker is gone'));
        return;
      }
      const timer = setTimeout(() => {
        h.pending.delete(msg.seq);
        reject(new Error(`subscriber worker did not answer ${msg.type} within ${timeoutMs} ms`));
      }, timeoutMs);
      h.pending.set(msg.seq, {
        resolve: (v) => {
          clearTimeout(timer);
          resolve(v as T);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      h.child.send(msg);
    });
  }

  /**
   * Opens `total` streams spread evenly over the workers; worker i binds its sockets to
   * localAddresses[i % length] when a list is given. Resolves when every attempt is settled.
   */
  async connect(total: number, options: ConnectOptions, localAddresses: string[] | null = null): Promise<ConnectResult> {
    const t0 = clockMs();
    const n = this.handles.length;
    if (options.requests !== undefined && options.requests.length !== total) throw new Error('one request per connection');
    let from = 0;
    const results = await Promise.all(
      this.handles.map((h, i) => {
        const count = Math.floor(total / n) + (i < total % n ? 1 : 0);
        const localAddress = localAddresses === null ? null : (localAddresses[i % localAddresses.length] ?? null);
        const requests = options.requests?.slice(from, from + count);
        from += count;
        const spec: ConnectSpec = { ...options, count, localAddress, ...(requests ? { requests } : {}) };
        this.seq += 1;
        return this.request<ConnectResult>(h, { type: 'connect', seq: this.seq, spec }, options.totalTimeoutMs + 10_000);
      }),
    );
    const merged: ConnectResult = { ok: 0, failed: 0, outcomes: {}, durationMs: clockMs() - t0, sample: null };
    for (const r of results) {
      merged.ok += r.ok;
      merged.failed += r.failed;
      merged.sample ??= r.sample;
      for (const [k, v] of Object.entries(r.outcomes)) merged.outcomes[k] = (merged.outcomes[k] ?? 0) + v;
    }
    return merged;
  }

  /** Latest progress pushed by the workers (at most ~50 ms old), summed. */
  progress(): Progress {
    const p = emptyProgress();
    for (const h of this.handles) {
      p.received += h.progress.received;
      p.open += h.progress.open;
      p.heartbeats += h.progress.heartbeats;
      p.dropped += h.progress.dropped;
      if (h.progress.lastRecvAt > p.lastRecvAt) p.lastRecvAt = h.progress.lastRecvAt;
    }
    return p;
  }

  /** Polls until `done(progress)` holds or the timeout passes; returns whether it held. */
  async waitFor(done: (p: Progress) => boolean, timeoutMs: number): Promise<boolean> {
    const until = clockMs() + timeoutMs;
    while (clockMs() < until) {
      if (done(this.progress())) return true;
      if (this.handles.some((h) => h.exited)) throw new Error('a subscriber worker exited');
      await sleep(10);
    }
    return done(this.progress());
  }

  /** Merged report; `expected` is how many messages (n = 0 … expected−1) each subscriber should hold. */
  async report(expected: number): Promise<PoolReport> {
    const reports = await Promise.all(
      this.handles.map((h) => {
        this.seq += 1;
        return this.request<WorkerReport>(h, { type: 'report', seq: this.seq, expected }, 30_000);
      }),
    );
    const histograms = Array.from({ length: PHASES }, () => new Histogram());
    const out: PoolReport = {
      ...emptyProgress(),
      duplicates: 0,
      unexpected: 0,
      foreign: 0,
      outOfOrder: 0,
      missing: 0,
      subscribersWithMissing: 0,
      subscribers: 0,
      early: 0,
      minLatencyMs: Number.POSITIVE_INFINITY,
      histograms,
    };
    for (const r of reports) {
      out.received += r.received;
      out.open += r.open;
      out.heartbeats += r.heartbeats;
      out.dropped += r.dropped;
      out.lastRecvAt = Math.max(out.lastRecvAt, r.lastRecvAt);
      out.duplicates += r.duplicates;
      out.unexpected += r.unexpected;
      out.foreign += r.foreign;
      out.outOfOrder += r.outOfOrder;
      out.missing += r.missing;
      out.subscribersWithMissing += r.subscribersWithMissing;
      out.subscribers += r.subscribers;
      out.early += r.early;
      // JSON over IPC turns Infinity into null
      if (typeof r.minLatencyMs === 'number' && r.minLatencyMs < out.minLatencyMs) out.minLatencyMs = r.minLatencyMs;
      r.histograms.forEach((s, i) => histograms[i]?.merge(Histogram.fromSparse(s)));
    }
    return out;
  }

  /** Cumulative CPU of all worker processes in ns. */
  cpuNs(): number {
    let total = 0;
    for (const h of this.handles) {
      const pid = h.child.pid;
      if (pid === undefined || h.exited) continue;
      const v = processCpuNs(pid);
      if (!Number.isNaN(v)) total += v;
    }
    return total;
  }

  /** Closes every stream, then ends the workers (SIGKILL after 5 s). */
  async close(): Promise<void> {
    await Promise.all(
      this.handles.map(async (h) => {
        if (h.exited) return;
        try {
          this.seq += 1;
          await this.request<void>(h, { type: 'close', seq: this.seq }, 10_000);
        } catch {
          // the worker is gone or stuck: it is killed below
        }
        if (h.child.connected) h.child.disconnect();
        const exited = await Promise.race([
          new Promise<boolean>((resolve) => (h.exited ? resolve(true) : h.child.once('exit', () => resolve(true)))),
          sleep(5_000).then(() => false),
        ]);
        if (!exited) h.child.kill('SIGKILL');
      }),
    );
  }
}
