/**
 * 10. HTTP/2: the fan-out of scenario 1 (one size) three times in one run, each on a fresh Broker:
 * HTTP/1.1 in clear (one connection per stream, the path every other scenario measures),
 * HTTP/1.1 over TLS (the same, encrypted: TLS_CERT and TLS_KEY set, clients offer only
 * http/1.1), and HTTP/2 over TLS (the same server, clients offer h2; `streamsPerSession` streams
 * share each connection, as the EventSources of a page do). A burst as fast as Broker
 * acknowledges, then a fixed rate. Delivered msgs/s, server CPU per delivery, latency, and the
 * ratios of the TLS runs to the clear one. Exactly-once check on every stream of every run.
 * Broker only: the baseline speaks neither TLS nor HTTP/2.
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
import { benchCertificate } from '../tls-certificate.js';
import type { StreamProtocol } from '../worker-protocol.js';

const BURST = 0;
const RATE = 1;

const LABELS: Record<StreamProtocol, string> = {
  http1: 'HTTP/1.1',
  'http1-tls': 'HTTP/1.1+TLS',
  h2: 'HTTP/2+TLS',
};
const KEYS: Record<StreamProtocol, string> = { http1: 'h1', 'http1-tls': 'h1tls', h2: 'h2' };

interface Measured {
  burstPerS: number;
  rateUsPerDelivery: number;
}

async function runOne(ctx: ScenarioContext, protocol: StreamProtocol): Promise<Measured> {
  const p = ctx.params.http2;
  const secure = protocol !== 'http1';
  const rateCount = Math.round(p.ratePerSecond * p.rateSeconds);
  const total = p.burstMessages + rateCount;
  const key = `http2.${KEYS[protocol]}`;
  const label = `${LABELS[protocol]} ${p.subscribers} subs`;
  const server = await ctx.launch({ heartbeatS: 15, loginRateLimit: 100_000, ...(secure ? { tls: benchCertificate() } : {}) });
  if (protocol === 'h2') ctx.log(`${label}: ${p.streamsPerSession} streams per connection`);
  let pool: SubscriberPool | null = null;
  let pub: Publisher | null = null;
  try {
    const jwt = await userToken(server.port, uniqueName('pub'), 'bench-password-1', secure);
    const event = uniqueName('h2fan');
    pool = await SubscriberPool.start(p.workers);
    ctx.log(`${label}: connecting`);
    const conn = await pool.connect(p.subscribers, {
      host: HOST,
      port: server.port,
      path: `/events?event=${event}`,
      protocol,
      streamsPerSession: p.streamsPerSession,
      concurrency: 64,
      capacity: total,
      headTimeoutMs: 15_000,
      totalTimeoutMs: 90_000,
    });
    if (conn.ok < p.subscribers) {
      throw new Error(`${label}: only ${conn.ok}/${p.subscribers} subscribers connected: ${JSON.stringify(conn.outcomes)} ${conn.sample ?? ''}`);
    }
    ctx.out.figure(`${key}.connect_s`, `${label}: time to connect`, 's', conn.durationMs / 1000, null);
    await sleep(500);
    pub = await Publisher.open(server.port, jwt, event, p.burstConnections, secure);
    const client = new CpuMeter(clientCpuSource(pool));
    const srv = new CpuMeter(() => server.cpuNs());

    ctx.log(`${label}: burst of ${p.burstMessages} messages`);
    client.start();
    srv.start();
    const burst = await pub.burst(0, p.burstMessages, BURST, p.timeoutMs / 4);
    const burstDone = await pool.waitFor((g) => g.received >= p.subscribers * burst.acked, 60_000);
    const afterBurst = pool.progress();
    const burstClient = client.read().pctOfCore;
    const burstServer = srv.read();
    const burstPerS = afterBurst.received / ((afterBurst.lastRecvAt - burst.firstSendAt) / 1000);
    ctx.out.figure(`${key}.burst.delivered_per_s`, `${label}, burst: delivered msgs/s`, 'msg/s', burstPerS, burstClient);
    ctx.out.figure(`${key}.burst.server_cpu_pct`, `${label}, burst: server CPU`, '% core', burstServer.pctOfCore, burstClient);
    ctx.out.figure(`${key}.burst.server_us_per_delivery`, `${label}, burst: server CPU/delivery`, 'µs', burstServer.cpuNs / 1000 / afterBurst.received, burstClient);
    ctx.out.check(
      `${LABELS[protocol]}: burst inserts acknowledged`,
      burst.failed === 0 && burst.acked === p.burstMessages,
      `${burst.acked}/${p.burstMessages} acked ${JSON.stringify(burst.statuses)} ${burst.errorSample ?? ''}`,
    );
    if (!burstDone) ctx.out.note(`${LABELS[protocol]}: burst not fully delivered within 60 s`);

    await sleep(1000);
    ctx.log(`${label}: ${p.ratePerSecond} msg/s for ${p.rateSeconds} s`);
    client.start();
    srv.start();
    const steady = await pub.rate(p.burstMessages, rateCount, p.ratePerSecond, () => RATE, p.rateSeconds * 1000 + 30_000);
    await pool.waitFor((g) => g.received >= p.subscribers * (burst.acked + steady.acked), 30_000);
    const rateClient = client.read().pctOfCore;
    const rateServer = srv.read();
    const afterRate = pool.progress();
    const rateDeliveries = afterRate.received - afterBurst.received;
    const rateUsPerDelivery = rateServer.cpuNs / 1000 / rateDeliveries;
    const rateLabel = `${label}×${p.ratePerSecond}/s`;
    ctx.out.figure(`${key}.rate.server_us_per_delivery`, `${rateLabel}: server CPU/delivery`, 'µs', rateUsPerDelivery, rateClient);
    ctx.out.check(
      `${LABELS[protocol]}: rate inserts acknowledged`,
      steady.failed === 0 && steady.acked === rateCount,
      `${steady.acked}/${rateCount} acked ${JSON.stringify(steady.statuses)} ${steady.errorSample ?? ''}`,
    );
    const report = await pool.report(total);
    const latency = summarize(report.histograms[RATE] ?? new Histogram());
    ctx.out.figure(`${key}.rate.p50_ms`, `${rateLabel}: latency p50`, 'ms', latency.p50Ms, rateClient);
    ctx.out.figure(`${key}.rate.p99_ms`, `${rateLabel}: latency p99`, 'ms', latency.p99Ms, rateClient);
    checkExactlyOnce(ctx.out, `${LABELS[protocol]}: every subscriber got every message exactly once`, report, p.subscribers, total);
    return { burstPerS, rateUsPerDelivery };
  } finally {
    pub?.close();
    await pool?.close();
    await server.stop();
  }
}

export const http2: Scenario = {
  name: 'http2',
  title: 'HTTP/2 and TLS',
  brokerOnly: true,
  timeoutMs: (p) => p.http2.timeoutMs,
  async run(ctx) {
    const n = ctx.params.http2.subscribers;
    const clear = await runOne(ctx, 'http1');
    const tls = await runOne(ctx, 'http1-tls');
    const h2 = await runOne(ctx, 'h2');
    const ratio = (a: number, b: number): number | null => (Number.isFinite(a) && Number.isFinite(b) && b > 0 ? a / b : null);
    // Throughput ratios: higher is better; CPU ratios: lower is better.
    ctx.out.figure('http2.ratio.burst', `HTTP/2+TLS ÷ HTTP/1.1 ${n} subs: burst msgs/s`, '×', ratio(h2.burstPerS, clear.burstPerS), null);
    ctx.out.figure('http2.ratio.cpu', `HTTP/2+TLS ÷ HTTP/1.1 ${n} subs: CPU/delivery at rate`, '×', ratio(h2.rateUsPerDelivery, clear.rateUsPerDelivery), null);
    ctx.out.figure('http2.ratio.tls_burst', `HTTP/1.1+TLS ÷ HTTP/1.1 ${n} subs: burst msgs/s`, '×', ratio(tls.burstPerS, clear.burstPerS), null);
    ctx.out.figure('http2.ratio.tls_cpu', `HTTP/1.1+TLS ÷ HTTP/1.1 ${n} subs: CPU/delivery at rate`, '×', ratio(tls.rateUsPerDelivery, clear.rateUsPerDelivery), null);
    ctx.out.figure('http2.ratio.h2_tls_burst', `HTTP/2+TLS ÷ HTTP/1.1+TLS ${n} subs: burst msgs/s`, '×', ratio(h2.burstPerS, tls.burstPerS), null);
    ctx.out.figure('http2.ratio.h2_tls_cpu', `HTTP/2+TLS ÷ HTTP/1.1+TLS ${n} subs: CPU/delivery at rate`, '×', ratio(h2.rateUsPerDelivery, tls.rateUsPerDelivery), null);
  },
};
