/**
 * 1. Fan-out: N subscribers on one event name; a burst published as fast as the server
 * acknowledges, then a fixed-rate stream. Delivered msgs/s, publish→receive latency, server CPU
 * per delivery, and an exactly-once check of every message on every stream.
 */
import { HOST, userToken } from '../api-client.js';
import { clientCpuSource } from '../client-cpu.js';
import { sleep, uniqueName } from '../clock.js';
import { CpuMeter } from '../cpu-meter.js';
import { checkExactlyOnce } from '../delivery-check.js';
import { Publisher } from '../publisher.js';
import type { Scenario, ScenarioContext } from '../scenario-types.js';
import { Histogram, summarize } from '../stats.js';
import { SubscriberPool } from '../subscriber-pool.js';

const BURST = 0;
const RATE = 1;

function latencyFigures(ctx: ScenarioContext, key: string, label: string, h: Histogram | undefined, cpu: number): void {
  const s = summarize(h ?? new Histogram());
  ctx.out.figure(`${key}.p50_ms`, `${label}: latency p50`, 'ms', s.p50Ms, cpu);
  ctx.out.figure(`${key}.p99_ms`, `${label}: latency p99`, 'ms', s.p99Ms, cpu);
  ctx.out.figure(`${key}.max_ms`, `${label}: latency max`, 'ms', s.maxMs, cpu);
}

async function runSize(ctx: ScenarioContext, size: number): Promise<void> {
  const p = ctx.params.fanout;
  const rate = p.ratePerSecond[size] ?? 50;
  const rateCount = Math.round(rate * p.rateSeconds);
  const total = p.burstMessages + rateCount;
  const key = `fanout.${size}`;
  const server = await ctx.launch({ heartbeatS: 15, loginRateLimit: 100_000 });
  let pool: SubscriberPool | null = null;
  let pub: Publisher | null = null;
  try {
    const jwt = await userToken(server.port, uniqueName('pub'));
    const event = uniqueName('fan');
    pool = await SubscriberPool.start(p.workers);
    ctx.log(`${size} subscribers: connecting`);
    const conn = await pool.connect(size, {
      host: HOST,
      port: server.port,
      path: `/events?event=${event}`,
      concurrency: 64,
      capacity: total,
      headTimeoutMs: 15_000,
      totalTimeoutMs: 60_000,
    });
    if (conn.ok < size) {
      throw new Error(`only ${conn.ok}/${size} subscribers connected: ${JSON.stringify(conn.outcomes)} ${conn.sample ?? ''}`);
    }
    await sleep(500);
    pub = await Publisher.open(server.port, jwt, event, p.burstConnections);
    const client = new CpuMeter(clientCpuSource(pool));
    const srv = new CpuMeter(() => server.cpuNs());

    ctx.log(`${size} subscribers: burst of ${p.burstMessages} messages`);
    client.start();
    srv.start();
    const burst = await pub.burst(0, p.burstMessages, BURST, p.timeoutMs / 4);
    const burstDone = await pool.waitFor((g) => g.received >= size * burst.acked, 60_000);
    const afterBurst = pool.progress();
    const burstClient = client.read().pctOfCore;
    const burstServer = srv.read().pctOfCore;
    const burstSpanS = (afterBurst.lastRecvAt - burst.firstSendAt) / 1000;
    ctx.out.figure(`${key}.burst.delivered_per_s`, `Fan-out ${size} subs, burst: delivered msgs/s`, 'msg/s', afterBurst.received / burstSpanS, burstClient);
    ctx.out.figure(
      `${key}.burst.acked_per_s`,
      `Fan-out ${size} subs, burst: publishes acked/s`,
      'msg/s',
      burst.acked / ((burst.lastAckAt - burst.firstSendAt) / 1000),
      burstClient,
    );
    ctx.out.figure(`${key}.burst.server_cpu_pct`, `Fan-out ${size} subs, burst: server CPU`, '% core', burstServer, burstClient);
    ctx.out.check(
      `fan-out ${size}: burst inserts acknowledged`,
      burst.failed === 0 && burst.acked === p.burstMessages,
      `${burst.acked}/${p.burstMessages} acked ${JSON.stringify(burst.statuses)} ${burst.errorSample ?? ''}`,
    );
    if (!burstDone) ctx.out.note(`fan-out ${size}: burst not fully delivered within 60 s`);

    await sleep(1000);
    ctx.log(`${size} subscribers: ${rate} msg/s for ${p.rateSeconds} s`);
    client.start();
    srv.start();
    const steady = await pub.rate(p.burstMessages, rateCount, rate, () => RATE, p.rateSeconds * 1000 + 30_000);
    await pool.waitFor((g) => g.received >= size * (burst.acked + steady.acked), 30_000);
    const rateClient = client.read().pctOfCore;
    const rateServer = srv.read();
    const afterRate = pool.progress();
    const rateDeliveries = afterRate.received - afterBurst.received;
    const rateSpanS = (afterRate.lastRecvAt - steady.firstSendAt) / 1000;
    const label = `Fan-out ${size} subs × ${rate} msg/s`;
    ctx.out.figure(`${key}.rate.delivered_per_s`, `${label}: delivered msgs/s`, 'msg/s', rateDeliveries / rateSpanS, rateClient);
    ctx.out.figure(
      `${key}.rate.server_us_per_delivery`,
      `${label}: server CPU per delivery`,
      'µs',
      rateServer.cpuNs / 1000 / rateDeliveries,
      rateClient,
    );
    ctx.out.figure(`${key}.rate.server_cpu_pct`, `${label}: server CPU`, '% core', rateServer.pctOfCore, rateClient);
    if (steady.maxBacklog > 0) ctx.out.note(`fan-out ${size}: publisher backlog reached ${steady.maxBacklog} (server slow to acknowledge)`);
    ctx.out.check(
      `fan-out ${size}: rate inserts acknowledged`,
      steady.failed === 0 && steady.acked === rateCount,
      `${steady.acked}/${rateCount} acked ${JSON.stringify(steady.statuses)} ${steady.errorSample ?? ''}`,
    );

    const report = await pool.report(total);
    latencyFigures(ctx, `${key}.burst`, `Fan-out ${size} subs, burst`, report.histograms[BURST], burstClient);
    latencyFigures(ctx, `${key}.rate`, label, report.histograms[RATE], rateClient);
    checkExactlyOnce(ctx.out, `fan-out ${size}: every subscriber got every message exactly once`, report, size, total);
  } finally {
    pub?.close();
    await pool?.close();
    await server.stop();
  }
}

export const fanout: Scenario = {
  name: 'fanout',
  title: 'Fan-out',
  timeoutMs: (p) => p.fanout.timeoutMs,
  async run(ctx) {
    for (const size of ctx.params.fanout.sizes) await runSize(ctx, size);
  },
};
