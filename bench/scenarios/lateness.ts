/**
 * 4. Release lateness: events scheduled to fall due evenly within one second, all inserted before
 * the first is due; one subscriber measures receive time − due time for each release.
 */
import { HOST, userToken } from '../api-client.js';
import { clientCpuSource } from '../client-cpu.js';
import { clockMs, sleep, uniqueName } from '../clock.js';
import { CpuMeter } from '../cpu-meter.js';
import { checkExactlyOnce } from '../delivery-check.js';
import { Publisher, type ScheduledMessage } from '../publisher.js';
import type { Scenario } from '../scenario-types.js';
import { Histogram, summarize } from '../stats.js';
import { SubscriberPool } from '../subscriber-pool.js';

export const lateness: Scenario = {
  name: 'lateness',
  title: 'Release lateness',
  timeoutMs: (p) => p.lateness.timeoutMs,
  async run(ctx) {
    const p = ctx.params.lateness;
    const server = await ctx.launch({ heartbeatS: 15, loginRateLimit: 100_000 });
    let pool: SubscriberPool | null = null;
    let pub: Publisher | null = null;
    try {
      const jwt = await userToken(server.port, uniqueName('late'));
      const event = uniqueName('late');
      pool = await SubscriberPool.start(1);
      const conn = await pool.connect(1, {
        host: HOST,
        port: server.port,
        path: `/events?event=${event}`,
        concurrency: 1,
        capacity: p.events,
        headTimeoutMs: 10_000,
        totalTimeoutMs: 10_000,
      });
      if (conn.ok !== 1) throw new Error(`subscriber did not connect: ${JSON.stringify(conn.outcomes)} ${conn.sample ?? ''}`);
      await sleep(300);
      pub = await Publisher.open(server.port, jwt, event, p.insertConnections);
      const firstDue = Math.ceil(clockMs() + p.leadS * 1000);
      const items: ScheduledMessage[] = Array.from({ length: p.events }, (_, n) => ({
        n,
        dueMs: firstDue + (n * p.windowS * 1000) / p.events,
      }));
      ctx.log(`inserting ${p.events} events due from +${p.leadS} s over ${p.windowS} s`);
      const client = new CpuMeter(clientCpuSource(pool));
      const stats = await pub.schedule(items, 0, p.leadS * 1000);
      ctx.out.check(
        'lateness: all events inserted before the first fell due',
        stats.acked === p.events && stats.lastAckAt < firstDue,
        `${stats.acked}/${p.events} acked, last ack ${(stats.lastAckAt - firstDue).toFixed(0)} ms relative to the first due time ${stats.errorSample ?? ''}`,
      );
      const lastDue = firstDue + p.windowS * 1000;
      await sleep(lastDue - clockMs());
      await pool.waitFor((g) => g.received >= stats.acked, 10_000);
      const clientPct = client.read().pctOfCore;
      const report = await pool.report(p.events);
      const s = summarize(report.histograms[0] ?? new Histogram());
      ctx.out.figure('lateness.p50_ms', `Release lateness (${p.events} events in ${p.windowS} s): p50`, 'ms', s.p50Ms, clientPct);
      ctx.out.figure('lateness.p99_ms', 'Release lateness: p99', 'ms', s.p99Ms, clientPct);
      ctx.out.figure('lateness.max_ms', 'Release lateness: max', 'ms', s.maxMs, clientPct);
      ctx.out.check(
        'lateness: no event released before its time',
        report.early === 0,
        `${report.early} released more than 1 ms early; earliest receive − due = ${report.minLatencyMs.toFixed(2)} ms`,
      );
      checkExactlyOnce(ctx.out, 'lateness: every event delivered exactly once', report, 1, p.events);
    } finally {
      pub?.close();
      await pool?.close();
      await server.stop();
    }
  },
};
