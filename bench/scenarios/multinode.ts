/**
 * 6. Multi-node: Broker processes on one fresh PostgreSQL database (same SECRET), 1, then 2, then
 * 4 nodes. The publisher is always on node A.
 *
 * - 1 node: N subscribers on A, a fixed rate on A: the single-node latency on PostgreSQL.
 * - 2 nodes: N subscribers on B only, the same rate on A, so every message crosses PostgreSQL
 *   (commit on A, NOTIFY, read-back and fan-out on B): the cross-node latency, and its ratio to
 *   the single-node one (target ≤ 1.5×).
 * - 4 nodes: C and D join (no subscribers: every node reads every release back all the same),
 *   the same rate again.
 * - then a burst on A as fast as it acknowledges, to B's subscribers.
 *
 * For each phase, PostgreSQL's CPU per released event: it should grow with the nodes only by one
 * read per batch per node. Where the time goes on B (hearing of a release, reading it back,
 * writing it out) comes from B's broker_fanout_stage_seconds. Exactly-once check on every
 * stream. Broker only; skipped when no PostgreSQL answers.
 */
import { HOST, userToken } from '../api-client.js';
import { clientCpuSource } from '../client-cpu.js';
import { sleep, uniqueName } from '../clock.js';
import { CpuMeter } from '../cpu-meter.js';
import { checkExactlyOnce } from '../delivery-check.js';
import { type BenchDatabase, createBenchDatabase, PgBackends } from '../postgres.js';
import { Publisher } from '../publisher.js';
import { httpOnce } from '../raw-http.js';
import type { Scenario, ScenarioContext } from '../scenario-types.js';
import { randomSecret, type ServerProcess } from '../server-process.js';
import { Histogram, summarize } from '../stats.js';
import { SubscriberPool } from '../subscriber-pool.js';

/** Latency phases of the subscriber pools. */
const BURST = 0;
const RATE = 1;
const RATE4 = 2;
const WARMUP = 3;
/** The warm-up message must reach every subscriber within this time. */
const WARMUP_TIMEOUT_MS = 15_000;

function latencyFigures(ctx: ScenarioContext, key: string, label: string, h: Histogram | undefined, cpu: number | null): number | null {
  const s = summarize(h ?? new Histogram());
  ctx.out.figure(`${key}.p50_ms`, `${label}: latency p50`, 'ms', s.p50Ms, cpu);
  ctx.out.figure(`${key}.p99_ms`, `${label}: latency p99`, 'ms', s.p99Ms, cpu);
  ctx.out.figure(`${key}.max_ms`, `${label}: latency max`, 'ms', s.maxMs, cpu);
  return s.p99Ms;
}

/** N subscribers on `node`, connected; throws when some could not connect. */
async function subscribers(ctx: ScenarioContext, node: ServerProcess, event: string, capacity: number): Promise<SubscriberPool> {
  const p = ctx.params.multinode;
  const pool = await SubscriberPool.start(p.workers);
  const conn = await pool.connect(p.subscribers, {
    host: HOST,
    port: node.port,
    path: `/events?event=${event}`,
    concurrency: 64,
    capacity,
    headTimeoutMs: 15_000,
    totalTimeoutMs: 60_000,
  });
  if (conn.ok < p.subscribers) {
    await pool.close();
    throw new Error(`only ${conn.ok}/${p.subscribers} subscribers connected: ${JSON.stringify(conn.outcomes)} ${conn.sample ?? ''}`);
  }
  await sleep(500);
  return pool;
}

/** One message (number 0) that every subscriber must receive: proves the path before measuring. */
async function warmUp(pub: Publisher, pool: SubscriberPool, n: number, where: string): Promise<void> {
  const warm = await pub.burst(0, 1, WARMUP, 10_000);
  if (warm.acked !== 1) throw new Error(`warm-up insert failed: ${JSON.stringify(warm.statuses)} ${warm.errorSample ?? ''}`);
  if (!(await pool.waitFor((g) => g.received >= n, WARMUP_TIMEOUT_MS))) {
    throw new Error(`the warm-up message reached ${pool.progress().received}/${n} subscribers ${where} within ${WARMUP_TIMEOUT_MS / 1000} s`);
  }
}

interface RateResult {
  acked: number;
  clientPct: number;
  /** PostgreSQL CPU of the phase, ns (null: its backends are not visible here). */
  pgNs: number | null;
}

/** Messages [first, first + count) at the scenario's rate; waits until every subscriber has them. */
async function ratePhase(
  ctx: ScenarioContext,
  pub: Publisher,
  pool: SubscriberPool,
  backends: PgBackends,
  first: number,
  phase: number,
  what: string,
): Promise<RateResult> {
  const p = ctx.params.multinode;
  const count = Math.round(p.ratePerSecond * p.rateSeconds);
  await backends.refresh();
  const client = new CpuMeter(clientCpuSource(pool));
  const pg = new CpuMeter(() => backends.cpuNs());
  const before = pool.progress().received;
  client.start();
  pg.start();
  const steady = await pub.rate(first, count, p.ratePerSecond, () => phase, p.rateSeconds * 1000 + 30_000);
  const done = await pool.waitFor((g) => g.received >= before + p.subscribers * steady.acked, 30_000);
  const pgRead = pg.read();
  if (!done) ctx.out.note(`multinode ${what}: fixed-rate messages not all delivered within 30 s`);
  if (steady.maxBacklog > 0) ctx.out.note(`multinode ${what}: publisher backlog reached ${steady.maxBacklog}`);
  ctx.out.check(`multinode ${what}: fixed-rate inserts acknowledged`, steady.failed === 0 && steady.acked === count, `${steady.acked}/${count} acked ${JSON.stringify(steady.statuses)} ${steady.errorSample ?? ''}`);
  return { acked: steady.acked, clientPct: client.read().pctOfCore, pgNs: backends.visible() ? pgRead.cpuNs : null };
}

/** p50 and p99 (upper bucket bounds, ms) and mean of one stage of a node's broker_fanout_stage_seconds. */
async function stageFigures(ctx: ScenarioContext, node: ServerProcess, key: string, label: string): Promise<void> {
  const r = await httpOnce(HOST, node.port, 'GET', '/metrics', null, '', 10_000);
  for (const stage of ['notify', 'read', 'deliver'] as const) {
    const buckets: [number, number][] = [];
    let sum = 0;
    let count = 0;
    for (const line of r.body.split('\n')) {
      if (!line.startsWith('broker_fanout_stage_seconds') || !line.includes(`stage="${stage}"`)) continue;
      const value = Number(line.slice(line.lastIndexOf(' ') + 1));
      const le = /le="([^"]+)"/.exec(line)?.[1];
      if (line.startsWith('broker_fanout_stage_seconds_bucket') && le !== undefined) buckets.push([le === '+Inf' ? Number.POSITIVE_INFINITY : Number(le), value]);
      else if (line.startsWith('broker_fanout_stage_seconds_sum')) sum = value;
      else if (line.startsWith('broker_fanout_stage_seconds_count')) count = value;
    }
    const quantile = (q: number): number | null => {
      const bound = buckets.find(([, c]) => c >= q * count)?.[0];
      return count === 0 || bound === undefined || !Number.isFinite(bound) ? null : bound * 1000;
    };
    ctx.out.figure(`${key}.${stage}.mean_ms`, `${label}: ${stage}, mean`, 'ms', count > 0 ? (sum / count) * 1000 : null, null);
    ctx.out.figure(`${key}.${stage}.p99_le_ms`, `${label}: ${stage}, p99 (bucket bound)`, 'ms', quantile(0.99), null);
  }
}

async function runMultinode(ctx: ScenarioContext, adminUrl: string): Promise<void> {
  const p = ctx.params.multinode;
  const n = p.subscribers;
  const rateCount = Math.round(p.ratePerSecond * p.rateSeconds);
  let db: BenchDatabase | null = null;
  let backends: PgBackends | null = null;
  const nodes: ServerProcess[] = [];
  const pools: SubscriberPool[] = [];
  const pubs: Publisher[] = [];
  // Figures are emitted at the end in reading order, also when the run fails half-way.
  const figures: (() => void)[] = [];
  const perEvent = (ns: number | null, acked: number): number | null => (ns === null || acked === 0 ? null : ns / 1000 / acked);
  try {
    db = await createBenchDatabase(adminUrl);
    backends = await PgBackends.watch(adminUrl, db.name);
    const launch = { heartbeatS: 15, loginRateLimit: 100_000, databaseUrl: db.url, secret: randomSecret() };
    const nodeA = await ctx.launch(launch);
    nodes.push(nodeA);
    const jwt = await userToken(nodeA.port, uniqueName('pub'));

    // 1 node: subscribers and publisher on A.
    const soloEvent = uniqueName('solo');
    const solo = await subscribers(ctx, nodeA, soloEvent, 1 + rateCount);
    pools.push(solo);
    const soloPub = await Publisher.open(nodeA.port, jwt, soloEvent, p.publisherConnections);
    pubs.push(soloPub);
    await warmUp(soloPub, solo, n, 'on node A');
    ctx.log(`1 node: ${p.ratePerSecond} msg/s for ${p.rateSeconds} s, ${n} subscribers on A`);
    const one = await ratePhase(ctx, soloPub, solo, backends, 1, RATE, '1 node');
    const soloReport = await solo.report(1 + rateCount);
    checkExactlyOnce(ctx.out, 'multinode 1 node: every subscriber got every message exactly once, in order', soloReport, n, 1 + rateCount);
    await solo.close();
    pools.splice(pools.indexOf(solo), 1);
    const soloLabel = `1 node: ${n} subs on A × ${p.ratePerSecond} msg/s on A`;
    let soloP99: number | null = null;
    figures.push(() => {
      soloP99 = latencyFigures(ctx, 'multinode.nodes1.rate', soloLabel, soloReport.histograms[RATE], one.clientPct);
      ctx.out.figure('multinode.nodes1.pg_us_per_event', `${soloLabel}: PostgreSQL CPU per released event`, 'µs', perEvent(one.pgNs, one.acked), one.clientPct);
    });

    // 2 nodes: subscribers on B, the publisher on A.
    const nodeB = await ctx.launch(launch);
    nodes.push(nodeB);
    const event = uniqueName('xnode');
    const total = 1 + 2 * rateCount + p.burstMessages;
    const pool = await subscribers(ctx, nodeB, event, total);
    pools.push(pool);
    const pub = await Publisher.open(nodeA.port, jwt, event, p.publisherConnections);
    pubs.push(pub);
    await warmUp(pub, pool, n, 'on node B');
    ctx.log(`2 nodes: ${p.ratePerSecond} msg/s on A, ${n} subscribers on B`);
    const two = await ratePhase(ctx, pub, pool, backends, 1, RATE, '2 nodes');

    // 4 nodes: C and D join; the same rate again.
    nodes.push(await ctx.launch(launch), await ctx.launch(launch));
    await sleep(500);
    ctx.log(`4 nodes: ${p.ratePerSecond} msg/s on A, ${n} subscribers on B`);
    const four = await ratePhase(ctx, pub, pool, backends, 1 + rateCount, RATE4, '4 nodes');

    // The burst, 4 nodes, to B.
    ctx.log(`burst of ${p.burstMessages} messages on A`);
    const beforeBurst = pool.progress().received;
    const client = new CpuMeter(clientCpuSource(pool));
    client.start();
    const burst = await pub.burst(1 + 2 * rateCount, p.burstMessages, BURST, p.timeoutMs / 4);
    const burstDone = await pool.waitFor((g) => g.received >= beforeBurst + n * burst.acked, 60_000);
    const afterBurst = pool.progress();
    const burstPct = client.read().pctOfCore;
    if (!burstDone) ctx.out.note('multinode: burst not fully delivered on node B within 60 s');
    ctx.out.check('multinode: burst inserts on node A acknowledged', burst.failed === 0 && burst.acked === p.burstMessages, `${burst.acked}/${p.burstMessages} acked ${JSON.stringify(burst.statuses)} ${burst.errorSample ?? ''}`);
    const report = await pool.report(total);
    checkExactlyOnce(ctx.out, 'multinode: every subscriber on node B got every message published on node A exactly once, in order', report, n, total);
    if (!backends.visible()) ctx.out.note('multinode: PostgreSQL backends not visible in /proc (another machine or container): no PostgreSQL CPU');

    const twoLabel = `2 nodes: ${n} subs on B × ${p.ratePerSecond} msg/s on A`;
    const fourLabel = `4 nodes: ${n} subs on B × ${p.ratePerSecond} msg/s on A`;
    const burstLabel = `4 nodes: ${n} subs on B, burst on A`;
    figures.push(() => {
      const p99 = latencyFigures(ctx, 'multinode.nodes2.rate', twoLabel, report.histograms[RATE], two.clientPct);
      ctx.out.figure(
        'multinode.cross_node_ratio',
        'Cross-node p99 (2 nodes) ÷ single-node p99 (1 node), same run',
        '×',
        p99 !== null && soloP99 !== null && soloP99 > 0 ? p99 / soloP99 : null,
        null,
      );
      ctx.out.figure('multinode.nodes2.pg_us_per_event', `${twoLabel}: PostgreSQL CPU per released event`, 'µs', perEvent(two.pgNs, two.acked), two.clientPct);
      latencyFigures(ctx, 'multinode.nodes4.rate', fourLabel, report.histograms[RATE4], four.clientPct);
      ctx.out.figure('multinode.nodes4.pg_us_per_event', `${fourLabel}: PostgreSQL CPU per released event`, 'µs', perEvent(four.pgNs, four.acked), four.clientPct);
      const spanS = (afterBurst.lastRecvAt - burst.firstSendAt) / 1000;
      ctx.out.figure('multinode.burst.delivered_per_s', `${burstLabel}: delivered msgs/s`, 'msg/s', (afterBurst.received - beforeBurst) / spanS, burstPct);
      ctx.out.figure('multinode.burst.acked_per_s', `${burstLabel}: publishes acked/s`, 'msg/s', burst.acked / ((burst.lastAckAt - burst.firstSendAt) / 1000), burstPct);
      latencyFigures(ctx, 'multinode.burst', burstLabel, report.histograms[BURST], burstPct);
    });
    const stages = async (): Promise<void> => stageFigures(ctx, nodeB, 'multinode.b_stage', 'Node B, where a batch\'s time goes');
    await stages().catch((err: unknown) => ctx.out.note(`multinode: no stage figures from node B: ${String(err)}`));
  } finally {
    for (const emit of figures) emit();
    for (const pub of pubs) pub.close();
    for (const pool of pools) await pool.close();
    // Stop the nodes before the database goes (in parallel: each waits for its drain).
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
