/**
 * 6. Multi-node: two Broker processes on one fresh PostgreSQL database (same SECRET). N subscribers
 * on node B only, the publisher on node A only, so every message crosses PostgreSQL (commit on A,
 * NOTIFY, read and fan-out on B). A warm-up message proves the path; then a fixed-rate stream
 * (publish→receive latency across nodes) and a burst as fast as A acknowledges. Exactly-once
 * check on every stream. Broker only; skipped when no PostgreSQL answers.
 */
import { HOST, userToken } from '../api-client.js';
import { clientCpuSource } from '../client-cpu.js';
import { sleep, uniqueName } from '../clock.js';
import { CpuMeter } from '../cpu-meter.js';
import { checkExactlyOnce } from '../delivery-check.js';
import { type BenchDatabase, createBenchDatabase, PgBackends } from '../postgres.js';
import { Publisher } from '../publisher.js';
import type { Scenario, ScenarioContext } from '../scenario-types.js';
import { randomSecret, type ServerProcess } from '../server-process.js';
import { Histogram, summarize } from '../stats.js';
import { SubscriberPool } from '../subscriber-pool.js';

const BURST = 0;
const RATE = 1;
const WARMUP = 2;
/** The warm-up message must reach every subscriber on B within this time. */
const WARMUP_TIMEOUT_MS = 15_000;

function latencyFigures(ctx: ScenarioContext, key: string, label: string, h: Histogram | undefined, cpu: number): void {
  const s = summarize(h ?? new Histogram());
  ctx.out.figure(`${key}.p50_ms`, `${label}: latency p50`, 'ms', s.p50Ms, cpu);
  ctx.out.figure(`${key}.p99_ms`, `${label}: latency p99`, 'ms', s.p99Ms, cpu);
  ctx.out.figure(`${key}.max_ms`, `${label}: latency max`, 'ms', s.maxMs, cpu);
}

/** CPU meters of one phase: client, node A, node B, the PostgreSQL backends of the database. */
class PhaseCpu {
  private readonly client: CpuMeter;
  private readonly a: CpuMeter;
  private readonly b: CpuMeter;
  private readonly pg: CpuMeter;

  constructor(pool: SubscriberPool, nodeA: ServerProcess, nodeB: ServerProcess, backends: PgBackends) {
    this.client = new CpuMeter(clientCpuSource(pool));
    this.a = new CpuMeter(() => nodeA.cpuNs());
    this.b = new CpuMeter(() => nodeB.cpuNs());
    this.pg = new CpuMeter(() => backends.cpuNs());
  }

  start(): void {
    for (const m of [this.client, this.a, this.b, this.pg]) m.start();
  }

  read(): { client: number; a: number; b: number; pg: number } {
    return { client: this.client.read().pctOfCore, a: this.a.read().pctOfCore, b: this.b.read().pctOfCore, pg: this.pg.read().pctOfCore };
  }
}

function cpuFigures(ctx: ScenarioContext, key: string, label: string, cpu: { client: number; a: number; b: number; pg: number }, pgVisible: boolean): void {
  ctx.out.figure(`${key}.node_a_cpu_pct`, `${label}: node A CPU`, '% core', cpu.a, cpu.client);
  ctx.out.figure(`${key}.node_b_cpu_pct`, `${label}: node B CPU`, '% core', cpu.b, cpu.client);
  ctx.out.figure(`${key}.pg_cpu_pct`, `${label}: PostgreSQL CPU`, '% core', pgVisible ? cpu.pg : null, cpu.client);
}

async function runMultinode(ctx: ScenarioContext, adminUrl: string): Promise<void> {
  const p = ctx.params.multinode;
  const n = p.subscribers;
  const rateCount = Math.round(p.ratePerSecond * p.rateSeconds);
  // n = 0: warm-up; 1 … rateCount: fixed rate; then the burst.
  const firstBurst = 1 + rateCount;
  const total = firstBurst + p.burstMessages;
  let db: BenchDatabase | null = null;
  let backends: PgBackends | null = null;
  const nodes: ServerProcess[] = [];
  let pool: SubscriberPool | null = null;
  let pub: Publisher | null = null;
  // Figures are emitted at the end in reading order (delivery, latency, CPU per phase), also when
  // the run fails half-way; latencies come from the final report.
  const rateFigures: (() => void)[] = [];
  const burstFigures: (() => void)[] = [];
  try {
    db = await createBenchDatabase(adminUrl);
    ctx.log(`database ${db.name} created; starting node A, then node B`);
    backends = await PgBackends.watch(adminUrl, db.name);
    const secret = randomSecret();
    const launch = { heartbeatS: 15, loginRateLimit: 100_000, databaseUrl: db.url, secret };
    const nodeA = await ctx.launch(launch);
    nodes.push(nodeA);
    const nodeB = await ctx.launch(launch);
    nodes.push(nodeB);
    ctx.log(`node A on port ${nodeA.port}, node B on port ${nodeB.port}`);

    // The user and its token come from node A; node B accepts the token (same SECRET, same users table).
    const jwt = await userToken(nodeA.port, uniqueName('pub'));
    const event = uniqueName('xnode');
    pool = await SubscriberPool.start(p.workers);
    ctx.log(`${n} subscribers on node B: connecting`);
    const conn = await pool.connect(n, {
      host: HOST,
      port: nodeB.port,
      path: `/events?event=${event}`,
      concurrency: 64,
      capacity: total,
      headTimeoutMs: 15_000,
      totalTimeoutMs: 60_000,
    });
    if (conn.ok < n) {
      throw new Error(`only ${conn.ok}/${n} subscribers connected to node B: ${JSON.stringify(conn.outcomes)} ${conn.sample ?? ''}`);
    }
    await sleep(500);
    pub = await Publisher.open(nodeA.port, jwt, event, p.publisherConnections);

    ctx.log('warm-up: one message on node A');
    const warm = await pub.burst(0, 1, WARMUP, 10_000);
    if (warm.acked !== 1) throw new Error(`warm-up insert on node A failed: ${JSON.stringify(warm.statuses)} ${warm.errorSample ?? ''}`);
    if (!(await pool.waitFor((g) => g.received >= n, WARMUP_TIMEOUT_MS))) {
      const g = pool.progress();
      throw new Error(`warm-up message published on node A reached ${g.received}/${n} subscribers on node B within ${WARMUP_TIMEOUT_MS / 1000} s`);
    }
    await sleep(500);
    await backends.refresh();
    const cpu = new PhaseCpu(pool, nodeA, nodeB, backends);

    const rateLabel = `Cross-node ${n} subs on B × ${p.ratePerSecond} msg/s on A`;
    ctx.log(`${p.ratePerSecond} msg/s on node A for ${p.rateSeconds} s`);
    const beforeRate = pool.progress();
    cpu.start();
    const steady = await pub.rate(1, rateCount, p.ratePerSecond, () => RATE, p.rateSeconds * 1000 + 30_000);
    const rateDone = await pool.waitFor((g) => g.received >= n * (1 + steady.acked), 30_000);
    const rateCpu = cpu.read();
    const afterRate = pool.progress();
    const rateSpanS = (afterRate.lastRecvAt - steady.firstSendAt) / 1000;
    const pgVisible = backends.visible();
    rateFigures.push(() =>
      ctx.out.figure('multinode.rate.delivered_per_s', `${rateLabel}: delivered msgs/s`, 'msg/s', (afterRate.received - beforeRate.received) / rateSpanS, rateCpu.client),
    );
    rateFigures.push(() => {
      ctx.out.figure('multinode.rate.insert_ack_p99_ms', `${rateLabel}: insert ack p99 (A)`, 'ms', summarize(steady.ackLatency).p99Ms, rateCpu.client);
      cpuFigures(ctx, 'multinode.rate', rateLabel, rateCpu, pgVisible);
    });
    if (steady.maxBacklog > 0) ctx.out.note(`multinode: publisher backlog reached ${steady.maxBacklog} (node A slow to acknowledge)`);
    if (!rateDone) ctx.out.note('multinode: fixed-rate messages not all delivered on node B within 30 s');
    ctx.out.check(
      'multinode: fixed-rate inserts on node A acknowledged',
      steady.failed === 0 && steady.acked === rateCount,
      `${steady.acked}/${rateCount} acked ${JSON.stringify(steady.statuses)} ${steady.errorSample ?? ''}`,
    );

    await sleep(1000);
    const burstLabel = `Cross-node ${n} subs on B, burst on A`;
    ctx.log(`burst of ${p.burstMessages} messages on node A`);
    await backends.refresh();
    cpu.start();
    const burst = await pub.burst(firstBurst, p.burstMessages, BURST, p.timeoutMs / 4);
    const burstDone = await pool.waitFor((g) => g.received >= afterRate.received + n * burst.acked, 60_000);
    const burstCpu = cpu.read();
    const afterBurst = pool.progress();
    const burstSpanS = (afterBurst.lastRecvAt - burst.firstSendAt) / 1000;
    burstFigures.push(() => {
      ctx.out.figure('multinode.burst.delivered_per_s', `${burstLabel}: delivered msgs/s`, 'msg/s', (afterBurst.received - afterRate.received) / burstSpanS, burstCpu.client);
      ctx.out.figure(
        'multinode.burst.acked_per_s',
        `${burstLabel}: publishes acked/s`,
        'msg/s',
        burst.acked / ((burst.lastAckAt - burst.firstSendAt) / 1000),
        burstCpu.client,
      );
    });
    burstFigures.push(() => cpuFigures(ctx, 'multinode.burst', burstLabel, burstCpu, pgVisible));
    if (!burstDone) ctx.out.note('multinode: burst not fully delivered on node B within 60 s');
    ctx.out.check(
      'multinode: burst inserts on node A acknowledged',
      burst.failed === 0 && burst.acked === p.burstMessages,
      `${burst.acked}/${p.burstMessages} acked ${JSON.stringify(burst.statuses)} ${burst.errorSample ?? ''}`,
    );
    if (!backends.visible()) ctx.out.note('multinode: PostgreSQL backends not visible in /proc (another machine or container): no PostgreSQL CPU');

    const report = await pool.report(total);
    rateFigures.splice(1, 0, () => latencyFigures(ctx, 'multinode.rate', rateLabel, report.histograms[RATE], rateCpu.client));
    burstFigures.splice(1, 0, () => latencyFigures(ctx, 'multinode.burst', burstLabel, report.histograms[BURST], burstCpu.client));
    checkExactlyOnce(ctx.out, `multinode: every subscriber on node B got every message published on node A exactly once, in order`, report, n, total);
  } finally {
    for (const emit of [...rateFigures, ...burstFigures]) emit();
    pub?.close();
    await pool?.close();
    // Stop both nodes before the database goes (and in parallel: a node waits for its drain).
    await Promise.all(nodes.map((s) => s.stop()));
    await backends?.stop();
    if (db !== null) {
      try {
        await db.drop();
        ctx.log(`database ${db.name} dropped`);
      } catch (err) {
        ctx.out.note(`multinode: could not drop database ${db.name}: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
  }
}

export const multinode: Scenario = {
  name: 'multinode',
  title: 'Multi-node (PostgreSQL)',
  brokerOnly: true,
  requiresPostgres: true,
  timeoutMs: (p) => p.multinode.timeoutMs,
  async run(ctx) {
    const pg = ctx.postgres;
    if (!pg.available || pg.adminUrl === null) {
      ctx.out.skip(`no PostgreSQL (${pg.detail})`);
      ctx.log(`skipped: no PostgreSQL (${pg.detail})`);
      return;
    }
    await runMultinode(ctx, pg.adminUrl);
  },
};
