/**
 * 5. Login storm: N concurrent POST /login (bcrypt on the server) while subscribers receive a
 * fixed-rate stream. Server event-loop lag p99 over the storm (GET /metrics,
 * nodejs_eventloop_lag_p99_seconds, which is reset by each read) and delivery latency p99 of the
 * messages published during the storm, next to the same before it.
 */
import { createUser, eventLoopLagP99Ms, HOST, login } from '../api-client.js';
import { clientCpuSource } from '../client-cpu.js';
import { clockMs, sleep, uniqueName } from '../clock.js';
import { CpuMeter } from '../cpu-meter.js';
import { checkExactlyOnce } from '../delivery-check.js';
import { Publisher } from '../publisher.js';
import { RawHttpConnection } from '../raw-http.js';
import type { Scenario } from '../scenario-types.js';
import { Histogram, summarize } from '../stats.js';
import { SubscriberPool } from '../subscriber-pool.js';

const BEFORE = 0;
const DURING = 1;
const AFTER = 2;
const WARMUP = 3;
const PASSWORD = 'storm-password-1';

export const loginStorm: Scenario = {
  name: 'storm',
  title: 'Login storm',
  timeoutMs: (p) => p.loginStorm.timeoutMs,
  async run(ctx) {
    const p = ctx.params.loginStorm;
    const server = await ctx.launch({ heartbeatS: 15, loginRateLimit: p.loginRateLimit, extraEnv: { LOOP_MONITOR: '1' } });
    let pool: SubscriberPool | null = null;
    let pub: Publisher | null = null;
    const loginConns: RawHttpConnection[] = [];
    try {
      const prefix = uniqueName('storm');
      const users = Array.from({ length: p.users }, (_, i) => `${prefix}_${i}`);
      ctx.log(`creating ${p.users} users`);
      for (let i = 0; i < users.length; i += 4) {
        await Promise.all(users.slice(i, i + 4).map((u) => createUser(server.port, u, PASSWORD)));
      }
      const pubConn = new RawHttpConnection(HOST, server.port);
      const jwt = await login(pubConn, users[0] ?? '', PASSWORD);
      pubConn.close();

      const event = uniqueName('tick');
      const streamS = p.warmupS + p.beforeS + p.maxStormS + p.afterS + 5;
      const capacity = Math.ceil(p.ratePerSecond * streamS);
      pool = await SubscriberPool.start(p.workers);
      ctx.log(`connecting ${p.subscribers} subscribers`);
      const conn = await pool.connect(p.subscribers, {
        host: HOST,
        port: server.port,
        path: `/events?event=${event}`,
        concurrency: 64,
        capacity,
        headTimeoutMs: 15_000,
        totalTimeoutMs: 60_000,
      });
      if (conn.ok < p.subscribers) throw new Error(`only ${conn.ok}/${p.subscribers} subscribers connected: ${JSON.stringify(conn.outcomes)}`);
      for (let i = 0; i < p.logins; i++) loginConns.push(new RawHttpConnection(HOST, server.port, p.maxStormS * 1000));
      await Promise.all(loginConns.map((c) => c.open()));
      await sleep(500);

      pub = await Publisher.open(server.port, jwt, event, 8);
      let phase = WARMUP;
      let stop = false;
      const stream = pub.rate(0, capacity, p.ratePerSecond, () => phase, streamS * 1000, () => stop);
      await sleep(p.warmupS * 1000);
      await eventLoopLagP99Ms(server.port); // reset the server's histogram
      phase = BEFORE;
      await sleep(p.beforeS * 1000);
      const loopLagBeforeMs = await eventLoopLagP99Ms(server.port); // and reset it again
      ctx.log(`storm: ${p.logins} concurrent logins`);
      const client = new CpuMeter(clientCpuSource(pool));
      const loginLatency = new Histogram();
      const outcomes: Record<string, number> = {};
      phase = DURING;
      const stormStart = clockMs();
      let stormMs = 0;
      const storm = Promise.all(
        loginConns.map(async (c, i) => {
          const t0 = clockMs();
          let outcome: string;
          try {
            const token = await login(c, users[i % users.length] ?? '', PASSWORD);
            outcome = token.length > 0 ? '200' : 'empty';
            loginLatency.record((clockMs() - t0) * 1000);
          } catch (err) {
            outcome = err instanceof Error ? err.message.slice(0, 60) : 'error';
          }
          outcomes[outcome] = (outcomes[outcome] ?? 0) + 1;
        }),
      ).then(() => {
        stormMs = clockMs() - stormStart;
      });
      // The window lasts until every login is answered, and at least minStormS, so that it holds
      // enough stream messages to measure even when logins are cheap (the baseline).
      await Promise.all([storm, sleep(p.minStormS * 1000)]);
      const windowMs = clockMs() - stormStart;
      phase = AFTER;
      const loopLagMs = await eventLoopLagP99Ms(server.port);
      const clientPct = client.read().pctOfCore;
      await sleep(p.afterS * 1000);
      stop = true;
      const published = await stream;
      await pool.waitFor((g) => g.received >= p.subscribers * published.acked, 10_000);
      const report = await pool.report(published.acked);
      const during = summarize(report.histograms[DURING] ?? new Histogram());
      const before = summarize(report.histograms[BEFORE] ?? new Histogram());
      const logins = summarize(loginLatency);
      const label = 'Login storm';
      ctx.out.figure('storm.loop_lag_p99_ms', `${label}: server event-loop lag p99`, 'ms', loopLagMs, clientPct);
      ctx.out.figure('storm.loop_lag_p99_before_ms', `${label}: server event-loop lag p99 before storm`, 'ms', loopLagBeforeMs, null);
      ctx.out.figure('storm.delivery_p99_ms', `${label}: delivery latency p99 during storm`, 'ms', during.p99Ms, clientPct);
      ctx.out.figure('storm.delivery_max_ms', 'Login storm: delivery latency max during storm', 'ms', during.maxMs, clientPct);
      ctx.out.figure('storm.delivery_p99_before_ms', 'Login storm: delivery latency p99 before storm', 'ms', before.p99Ms, null);
      ctx.out.figure('storm.duration_s', `Login storm: all ${p.logins} logins answered after`, 's', stormMs / 1000, clientPct);
      ctx.out.note(
        `login storm: ${p.logins} logins, ${p.subscribers} subs × ${p.ratePerSecond} msg/s; window ${(windowMs / 1000).toFixed(1)} s, ${during.count} deliveries in it`,
      );
      ctx.out.figure('storm.login_p99_ms', 'Login storm: login latency p99', 'ms', logins.p99Ms, clientPct);
      if (Number.isNaN(loopLagMs)) ctx.out.note('login storm: GET /metrics had no nodejs_eventloop_lag_p99_seconds');
      ctx.out.check(
        'login storm: every login answered 200 with a token',
        outcomes['200'] === p.logins,
        JSON.stringify(outcomes),
      );
      if (published.maxBacklog > 0) {
        ctx.out.note(`login storm: ${published.maxBacklog} stream messages waited for a free publisher connection (slow acks)`);
      }
      ctx.out.check(
        'login storm: stream inserts acknowledged',
        published.failed === 0,
        `${published.acked} acked ${JSON.stringify(published.statuses)} ${published.errorSample ?? ''}`,
      );
      checkExactlyOnce(ctx.out, 'login storm: every subscriber got every message exactly once', report, p.subscribers, published.acked);
    } finally {
      for (const c of loginConns) c.close();
      pub?.close();
      await pool?.close();
      await server.stop();
    }
  },
};
