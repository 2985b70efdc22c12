/**
 * 2. Connections, in two steps on two fresh servers:
 *  a. idle: 1,000 subscribers, default HEARTBEAT_INTERVAL (15 s), server CPU over one whole
 *     heartbeat interval — the "idle CPU < 1 %" figure;
 *  b. hold: as many idle subscribers as the open-files cap allows (19,000 of 20,000 per process)
 *     with HEARTBEAT_INTERVAL=1, spread over several client processes and 127.0.0.x source
 *     addresses: time to connect, server RSS per connection (slope above the first 1,000), CPU
 *     with 19,000 heartbeats/s, then a /health request and extra streams past the server's limit.
 */
import fs from 'node:fs';
import type net from 'node:net';
import { HOST, healthStatus } from '../api-client.js';
import { clientCpuSource } from '../client-cpu.js';
import { sleep, uniqueName } from '../clock.js';
import { CpuMeter } from '../cpu-meter.js';
import type { Scenario, ScenarioContext } from '../scenario-types.js';
import type { ServerProcess, TargetName } from '../server-process.js';
import { probeStream } from '../stream-probe.js';
import { type ConnectOptions, SubscriberPool } from '../subscriber-pool.js';
import type { ConnectResult } from '../worker-protocol.js';

function ephemeralPorts(): number {
  try {
    const [lo, hi] = fs.readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    if (lo !== undefined && hi !== undefined && hi > lo) return hi - lo + 1;
  } catch {
    // not Linux: assume the IANA range
  }
  return 16_384;
}

/**
 * One source address per worker (127.0.0.10, .11, … for the baseline; .20, .21, … for Broker) so
 * no address runs short of ports. Each target has its own: the ~19,500 sockets the previous
 * target's run left in TIME_WAIT (60 s) hold ports of its addresses, and binding a new socket to
 * an address whose ports are mostly taken is slow, which made whichever target ran second
 * connect several times slower.
 */
function sourceAddresses(workers: number, target: TargetName): string[] {
  const first = target === 'baseline' ? 10 : 20;
  return Array.from({ length: workers }, (_, i) => `127.0.0.${first + i}`);
}

interface IdleWindow {
  serverPct: number;
  serverCpuNs: number;
  clientPct: number;
  heartbeats: number;
}

async function idleWindow(ctx: ScenarioContext, server: ServerProcess, pool: SubscriberPool, seconds: number): Promise<IdleWindow> {
  const srv = new CpuMeter(() => server.cpuNs());
  const client = new CpuMeter(clientCpuSource(pool));
  const hb0 = pool.progress().heartbeats;
  await sleep(seconds * 1000);
  const s = srv.read();
  const out = { serverPct: s.pctOfCore, serverCpuNs: s.cpuNs, clientPct: client.read().pctOfCore, heartbeats: pool.progress().heartbeats - hb0 };
  ctx.log(`idle ${seconds} s: server ${out.serverPct.toFixed(2)} % of a core, ${out.heartbeats} heartbeats received`);
  return out;
}

function connectOptions(server: ServerProcess, concurrency: number): ConnectOptions {
  return {
    host: HOST,
    port: server.port,
    path: `/events?event=${uniqueName('idle')}`,
    concurrency,
    capacity: 0,
    headTimeoutMs: 20_000,
    totalTimeoutMs: 120_000,
  };
}

function mergeOutcomes(results: ConnectResult[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of results) for (const [k, v] of Object.entries(r.outcomes)) out[k] = (out[k] ?? 0) + v;
  return out;
}

async function idleStep(ctx: ScenarioContext): Promise<void> {
  const p = ctx.params.connections;
  const server = await ctx.launch({ heartbeatS: p.idleHeartbeatS, loginRateLimit: 100_000 });
  const pool = await SubscriberPool.start(1);
  try {
    ctx.log(`idle step: ${p.idleSubscribers} subscribers, heartbeat every ${p.idleHeartbeatS} s`);
    const r = await pool.connect(p.idleSubscribers, connectOptions(server, p.connectConcurrency));
    if (r.ok < p.idleSubscribers) throw new Error(`only ${r.ok}/${p.idleSubscribers} connected: ${JSON.stringify(r.outcomes)}`);
    await sleep(p.idleSettleS * 1000);
    const w = await idleWindow(ctx, server, pool, p.idleHeartbeatS);
    ctx.out.figure(
      'connections.idle_cpu_pct',
      `Idle server CPU, ${p.idleSubscribers} subs, heartbeat ${p.idleHeartbeatS} s`,
      '% core',
      w.serverPct,
      w.clientPct,
    );
    ctx.out.check(
      'connections: heartbeats arrive on idle streams',
      w.heartbeats >= p.idleSubscribers * 0.5,
      `${w.heartbeats} heartbeats on ${p.idleSubscribers} streams in one ${p.idleHeartbeatS} s interval`,
    );
  } finally {
    await pool.close();
    await server.stop();
  }
}

async function holdStep(ctx: ScenarioContext): Promise<void> {
  const p = ctx.params.connections;
  const out = ctx.out;
  const server = await ctx.launch({ heartbeatS: p.heartbeatS, loginRateLimit: 100_000 });
  const pool = await SubscriberPool.start(p.workers);
  const extras: net.Socket[] = [];
  try {
    const perAddress = Math.ceil(p.total / p.workers);
    if (perAddress > ephemeralPorts() * 0.8) out.note(`ephemeral port range may be short for ${perAddress} connections per source address`);
    const addresses = sourceAddresses(p.workers, ctx.target);
    const options = connectOptions(server, p.connectConcurrency);
    const client = new CpuMeter(clientCpuSource(pool));
    const srv = new CpuMeter(() => server.cpuNs());

    const warm = Math.min(p.warmSubscribers, p.total);
    ctx.log(`hold step: connecting ${warm}, then ${p.total - warm} more (heartbeat every ${p.heartbeatS} s)`);
    const rss0 = server.rssKb();
    const first = await pool.connect(warm, options, addresses);
    let clientCpuNs = client.read().cpuNs;
    let serverCpuNs = srv.read().cpuNs;
    await sleep(p.settleS * 1000);
    const rssWarm = server.rssKb();
    const heldWarm = pool.progress().open;
    client.start();
    srv.start();
    const rest = await pool.connect(p.total - warm, options, addresses);
    clientCpuNs += client.read().cpuNs;
    serverCpuNs += srv.read().cpuNs;
    const connectMs = first.durationMs + rest.durationMs;
    await sleep(p.settleS * 1000);
    const held = pool.progress().open;
    const rss1 = server.rssKb();
    const outcomes = mergeOutcomes([first, rest]);
    const sample = first.sample ?? rest.sample;
    ctx.log(`held ${held}/${p.total}, connected in ${(connectMs / 1000).toFixed(1)} s, outcomes ${JSON.stringify(outcomes)}`);
    const connectClientPct = (clientCpuNs / 1e6 / connectMs) * 100;
    const perConn = held > heldWarm ? (rss1 - rssWarm) / (held - heldWarm) : (rss1 - rss0) / held;
    out.figure('connections.held', 'Concurrent idle subscribers held', 'streams', held, null);
    out.figure('connections.connect_s', `Time to connect ${first.ok + rest.ok} subscribers`, 's', connectMs / 1000, connectClientPct);
    out.figure('connections.connect_per_s', 'Connect rate', 'conn/s', ((first.ok + rest.ok) / connectMs) * 1000, connectClientPct);
    out.figure('connections.connect_server_cpu_pct', 'Server CPU while connecting', '% core', (serverCpuNs / 1e6 / connectMs) * 100, connectClientPct);
    out.figure('connections.rss_kb_per_conn', 'Server RSS per idle connection', 'KB', perConn, null);
    out.figure('connections.rss_mb', `Server RSS with ${held} subs`, 'MB', rss1 / 1024, null);
    out.check(
      `connections: ${p.total} streams opened`,
      held >= p.total,
      `held ${held}; outcomes ${JSON.stringify(outcomes)}${sample === null ? '' : `; first refusal: ${sample}`}`,
    );

    const w = await idleWindow(ctx, server, pool, p.idleWindowS);
    out.figure('connections.idle_cpu_pct_all', `Server CPU, ${held} idle subs, heartbeat ${p.heartbeatS} s`, '% core', w.serverPct, w.clientPct);
    out.figure(
      'connections.server_us_per_heartbeat',
      'Server CPU per heartbeat delivered',
      'µs',
      w.heartbeats > 0 ? w.serverCpuNs / 1000 / w.heartbeats : null,
      w.clientPct,
    );
    const expectedHb = (held * p.idleWindowS) / p.heartbeatS;
    out.check(
      'connections: heartbeats keep up with all streams',
      w.heartbeats >= expectedHb * 0.8,
      `${w.heartbeats} heartbeats in ${p.idleWindowS} s on ${held} streams (≈${Math.round(expectedHb)} expected at ${p.heartbeatS} s)`,
    );

    const health1 = await healthStatus(server.port);
    out.check(`connections: GET /health with ${held} streams open`, health1 === '200', `answered ${health1}`);

    ctx.log(`opening up to ${p.extraStreams} extra streams to find the server's limit`);
    let refusal: { outcome: string; raw: string } | null = null;
    for (let i = 0; i < p.extraStreams && refusal === null && server.alive(); i++) {
      const r = await probeStream(server.port, options.path, 5_000);
      if (r.socket !== null) extras.push(r.socket);
      else refusal = { outcome: r.outcome, raw: r.raw };
    }
    const health2 = server.alive() ? await healthStatus(server.port) : 'server exited';
    const total = held + extras.length;
    if (refusal === null) {
      out.check(
        'connections: stream past the limit refused cleanly',
        server.alive(),
        `no refusal up to ${total} streams (probe stops after ${p.extraStreams} extra): limit not reached`,
      );
    } else {
      const status = Number(refusal.outcome);
      out.check(
        'connections: stream past the limit refused cleanly',
        status >= 400 && status <= 599 && server.alive(),
        `accepted ${extras.length} extra (${total} open), then: ${refusal.outcome} ${refusal.raw.replace(/\r?\n/g, ' ').slice(0, 300)}`,
      );
    }
    out.check(`connections: GET /health at the limit (${total} streams)`, health2 === '200', `answered ${health2}`);
    out.figure('connections.max_streams', 'Streams open at the refusal (or end of probe)', 'streams', total, null);
    for (const s of extras) s.destroy();
    extras.length = 0;
    await sleep(500);
    const health3 = server.alive() ? await healthStatus(server.port) : 'server exited';
    out.check('connections: server serves after the extra streams close', health3 === '200', `GET /health → ${health3}`);
  } finally {
    for (const s of extras) s.destroy();
    await pool.close();
    await server.stop();
  }
}

export const connections: Scenario = {
  name: 'connections',
  title: 'Connections',
  timeoutMs: (p) => p.connections.timeoutMs,
  async run(ctx) {
    await idleStep(ctx);
    await holdStep(ctx);
  },
};
