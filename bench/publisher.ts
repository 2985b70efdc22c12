/**
 * Publishes numbered messages with POST /insert over a few keep-alive connections. Each payload
 * is `{"n":<counter>,"t":<ms>,"p":<phase>}` where `t` is the clock time the request was written
 * (or, for scheduled events, the due time), so subscribers can compute latency and lateness.
 */
import { authHeader, HOST, insertBody } from './api-client.js';
import { clockMs, sleep } from './clock.js';
import { RawHttpConnection } from './raw-http.js';
import { Histogram } from './stats.js';

export interface PublishStats {
  attempted: number;
  acked: number;
  failed: number;
  statuses: Record<string, number>;
  firstSendAt: number;
  lastAckAt: number;
  /** Insert round trips (µs). */
  ackLatency: Histogram;
  /** Open-loop only: the largest number of due messages waiting for a free connection. */
  maxBacklog: number;
  errorSample: string | null;
}

export interface ScheduledMessage {
  n: number;
  dueMs: number;
}

function newStats(): PublishStats {
  return {
    attempted: 0,
    acked: 0,
    failed: 0,
    statuses: {},
    firstSendAt: 0,
    lastAckAt: 0,
    ackLatency: new Histogram(),
    maxBacklog: 0,
    errorSample: null,
  };
}

function payload(n: number, t: number, phase: number): string {
  return `{"n":${n},"t":${t.toFixed(3)},"p":${phase}}`;
}

export class Publisher {
  private constructor(
    private readonly conns: RawHttpConnection[],
    private readonly auth: string,
    readonly event: string,
  ) {}

  /** `secure`: HTTP/1.1 over TLS, to a Broker with TLS_CERT. */
  static async open(port: number, jwt: string, event: string, connections: number, secure = false): Promise<Publisher> {
    const conns = Array.from({ length: connections }, () => new RawHttpConnection(HOST, port, 30_000, secure));
    await Promise.all(conns.map((c) => c.open()));
    return new Publisher(conns, authHeader(jwt), event);
  }

  private async send(conn: RawHttpConnection, body: string, stats: PublishStats): Promise<void> {
    const t0 = clockMs();
    if (stats.firstSendAt === 0) stats.firstSendAt = t0;
    stats.attempted += 1;
    try {
      const r = await conn.request('POST', '/insert', body, this.auth);
      const key = String(r.status);
      stats.statuses[key] = (stats.statuses[key] ?? 0) + 1;
      if (r.status >= 200 && r.status < 300) {
        stats.acked += 1;
        stats.lastAckAt = clockMs();
        stats.ackLatency.record((stats.lastAckAt - t0) * 1000);
      } else {
        stats.failed += 1;
        stats.errorSample ??= `${r.status} ${r.body.slice(0, 200)}`;
      }
    } catch (err) {
      stats.failed += 1;
      stats.statuses.error = (stats.statuses.error ?? 0) + 1;
      stats.errorSample ??= err instanceof Error ? err.message : String(err);
    }
  }

  /** Closed loop: every connection sends its next message as soon as the previous one is acked. */
  private async closedLoop(count: number, body: (i: number) => string, timeoutMs: number): Promise<PublishStats> {
    const stats = newStats();
    const until = clockMs() + timeoutMs;
    let next = 0;
    await Promise.all(
      this.conns.map(async (conn) => {
        while (next < count && clockMs() < until) {
          const i = next;
          next += 1;
          await this.send(conn, body(i), stats);
        }
      }),
    );
    return stats;
  }

  /** As fast as the server acknowledges: messages n = first … first+count−1. */
  burst(first: number, count: number, phase: number, timeoutMs: number): Promise<PublishStats> {
    return this.closedLoop(count, (i) => insertBody(this.event, payload(first + i, clockMs(), phase), null), timeoutMs);
  }

  /** Future events: timestamp = due time (epoch seconds), `t` = due time, so receive − t = lateness. */
  schedule(items: ScheduledMessage[], phase: number, timeoutMs: number): Promise<PublishStats> {
    return this.closedLoop(
      items.length,
      (i) => {
        const item = items[i] ?? { n: i, dueMs: clockMs() };
        return insertBody(this.event, payload(item.n, item.dueMs, phase), Number((item.dueMs / 1000).toFixed(6)));
      },
      timeoutMs,
    );
  }

  /**
   * Open loop at a fixed rate: message i is due at start + i / perSecond, whatever the previous
   * ones did; when no connection is free it waits in a backlog (reported). `phaseOf` is read at
   * send time; `stop` ends the loop early.
   */
  async rate(
    first: number,
    count: number,
    perSecond: number,
    phaseOf: () => number,
    timeoutMs: number,
    stop: () => boolean = () => false,
  ): Promise<PublishStats> {
    const stats = newStats();
    const idle = [...this.conns];
    const backlog: number[] = [];
    const inFlight = new Set<Promise<void>>();
    const start = clockMs();
    const until = start + timeoutMs;
    const intervalMs = 1000 / perSecond;
    const dispatch = (): void => {
      while (idle.length > 0 && backlog.length > 0) {
        const conn = idle.pop();
        const n = backlog.shift();
        if (conn === undefined || n === undefined) return;
        const p: Promise<void> = this.send(conn, insertBody(this.event, payload(n, clockMs(), phaseOf()), null), stats).then(
          () => {
            inFlight.delete(p);
            idle.push(conn);
            dispatch();
          },
        );
        inFlight.add(p);
      }
    };
    for (let i = 0; i < count; i++) {
      if (stop() || clockMs() >= until) break;
      await sleep(start + i * intervalMs - clockMs());
      backlog.push(first + i);
      dispatch();
      if (backlog.length > stats.maxBacklog) stats.maxBacklog = backlog.length;
    }
    const drainUntil = clockMs() + 30_000;
    while ((backlog.length > 0 || inFlight.size > 0) && clockMs() < drainUntil) await sleep(5);
    return stats;
  }

  close(): void {
    for (const c of this.conns) c.close();
  }
}
