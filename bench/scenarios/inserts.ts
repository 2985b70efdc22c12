/**
 * 3. Inserts: acknowledged POST /insert per second with 1 and with 32 concurrent clients, each a
 * keep-alive connection with one request in flight (closed loop), after a warm-up (on PostgreSQL
 * followed by an ANALYZE, as autovacuum would run on a server whose table grows).
 * SQLite always; PostgreSQL too (Broker only, one node) when a PostgreSQL admin URL answers:
 * each PostgreSQL measurement gets a fresh database `broker_bench_<random>`, dropped afterwards.
 * With PostgreSQL, each concurrency is measured SQLite, PostgreSQL, PostgreSQL, SQLite (an ABBA
 * order) and each engine's figures come from its two runs together: a host whose speed drifts
 * within the minute (the shared VMs of bench/README) tilts PostgreSQL ÷ SQLite far less than with
 * the two engines measured a minute apart.
 */
import { authHeader, HOST, insertBody, userToken } from '../api-client.js';
import { clientCpuSource } from '../client-cpu.js';
import { clockMs, sleep, uniqueName } from '../clock.js';
import { CpuMeter } from '../cpu-meter.js';
import { httpOnce, RawHttpConnection } from '../raw-http.js';
import { analyzeDatabase, type BenchDatabase, createBenchDatabase, PgBackends } from '../postgres.js';
import type { Scenario, ScenarioContext } from '../scenario-types.js';
import { Histogram, summarize } from '../stats.js';

const MAX_ERRORS = 1000;
/** Requests per run, at most (far above what 10 s can reach; keeps the loop bounded in count). */
const MAX_REQUESTS = 5_000_000;

/** What one closed-loop run measured; runs of one engine and concurrency add up (see `report`). */
interface InsertRun {
  acked: number;
  elapsedS: number;
  latency: Histogram;
  /** CPU while measuring, % of one core: the load generator, Broker, PostgreSQL's backends (null: SQLite or not visible). */
  clientPct: number | null;
  serverPct: number | null;
  dbPct: number | null;
  /** Bulk runs: the event loop's worst stall, ms (null when not read). */
  loopBlockedMs: number | null;
}

/**
 * One closed-loop run. `pg`: the fresh PostgreSQL database and its backends, or null for SQLite.
 * `batch`: events per request (1: single inserts, `{…}`; more: a batch, `[{…}, …]`). Checks that
 * every insert was acknowledged; the figures are reported by `report`.
 */
async function measureInserts(
  ctx: ScenarioContext,
  clients: number,
  pg: { db: BenchDatabase; backends: PgBackends } | null,
  batch = 1,
): Promise<InsertRun> {
  const p = ctx.params.inserts;
  const db = pg === null ? 'SQLite' : 'PostgreSQL';
  const server = await ctx.launch(
    pg === null
      ? { heartbeatS: 15, loginRateLimit: 100_000 }
      : { heartbeatS: 15, loginRateLimit: 100_000, databaseUrl: pg.db.url },
  );
  const conns: RawHttpConnection[] = [];
  try {
    const auth = authHeader(await userToken(server.port, uniqueName('ins')));
    const event = uniqueName('ins');
    for (let i = 0; i < clients; i++) conns.push(new RawHttpConnection(HOST, server.port, 30_000));
    await Promise.all(conns.map((c) => c.open()));
    let phase: 'warmup' | 'measure' | 'stop' = 'warmup';
    let acked = 0;
    let failed = 0;
    let errors = 0;
    const statuses: Record<string, number> = {};
    let sample: string | null = null;
    const latency = new Histogram();
    let n = 0;
    const loops = conns.map(async (conn) => {
      while (phase !== 'stop' && errors < MAX_ERRORS && n < MAX_REQUESTS) {
        const body =
          batch === 1
            ? insertBody(event, `{"n":${n++}}`, null)
            : `[${Array.from({ length: batch }, () => insertBody(event, `{"n":${n++}}`, null)).join(',')}]`;
        const t0 = clockMs();
        try {
          const r = await conn.request('POST', '/insert', body, auth);
          if (phase !== 'measure') continue;
          statuses[r.status] = (statuses[r.status] ?? 0) + 1;
          if (r.status >= 200 && r.status < 300) {
            acked += batch;
            latency.record((clockMs() - t0) * 1000);
          } else {
            failed += 1;
            sample ??= `${r.status} ${r.body.slice(0, 200)}`;
          }
        } catch (err) {
          errors += 1;
          sample ??= err instanceof Error ? err.message : String(err);
        }
      }
    });
    ctx.log(`${clients} client(s), ${db}: warm-up ${p.warmupS} s, then ${p.durationS} s`);
    await sleep(p.warmupS * 1000);
    // The warm-up's rows analyzed, as autovacuum would: the measurement sees the plans of a
    // server that has run a while, not those of a table never analyzed.
    if (pg !== null) await analyzeDatabase(pg.db.url);
    await pg?.backends.refresh();
    const client = new CpuMeter(clientCpuSource(null));
    const srv = new CpuMeter(() => server.cpuNs());
    const dbCpu = pg === null ? null : new CpuMeter(() => pg.backends.cpuNs());
    // Bulk runs report the event loop's worst stall: the first scrape starts Node's monitor (and
    // every scrape resets it), so scrape once as the window opens.
    if (batch > 1) await eventLoopLagMaxMs(server.port);
    const t0 = clockMs();
    phase = 'measure';
    await sleep(p.durationS * 1000);
    const count = acked;
    const elapsedS = (clockMs() - t0) / 1000;
    phase = 'stop';
    const clientPct = client.read().pctOfCore;
    const serverPct = srv.read().pctOfCore;
    const dbPct = dbCpu === null || pg?.backends.visible() !== true ? null : dbCpu.read().pctOfCore;
    await Promise.race([Promise.all(loops), sleep(10_000)]);
    ctx.out.check(
      `inserts ${clients} client(s) ${db}: every insert acknowledged`,
      failed === 0 && errors === 0 && count > 0,
      `${count} acked, ${failed} refused, ${errors} errors ${JSON.stringify(statuses)} ${sample ?? ''}`,
    );
    const lag = batch > 1 ? await eventLoopLagMaxMs(server.port) : null;
    return {
      acked: count,
      elapsedS,
      latency,
      clientPct,
      serverPct,
      dbPct,
      loopBlockedMs: lag === null ? null : Math.max(0, lag - LAG_MONITOR_MS),
    };
  } finally {
    for (const c of conns) c.close();
    await server.stop();
  }
}

/**
 * Reports the figures of one engine, concurrency and batch size from its runs taken together:
 * events acknowledged over the time measured, one latency histogram, CPU weighted by time, the
 * worst stall. Returns the events acknowledged per second.
 */
function report(ctx: ScenarioContext, clients: number, engine: 'SQLite' | 'PostgreSQL', batch: number, runs: readonly InsertRun[]): number {
  const key = `inserts${engine === 'SQLite' ? '' : '.pg'}${batch === 1 ? '' : `.bulk${batch}`}.c${clients}`;
  const label = `Inserts${batch === 1 ? '' : ` in batches of ${batch}`}, ${clients} client${clients === 1 ? '' : 's'} (${engine})`;
  const elapsedS = runs.reduce((t, r) => t + r.elapsedS, 0);
  const latency = new Histogram();
  for (const r of runs) latency.merge(r.latency);
  const weighted = (pick: (r: InsertRun) => number | null): number | null =>
    runs.some((r) => pick(r) === null) || elapsedS <= 0 ? null : runs.reduce((t, r) => t + (pick(r) ?? 0) * r.elapsedS, 0) / elapsedS;
  const clientPct = weighted((r) => r.clientPct);
  const perS = elapsedS > 0 ? runs.reduce((t, r) => t + r.acked, 0) / elapsedS : 0;
  const ratioTo = engine === 'SQLite' && batch === 1 ? undefined : `inserts.c${clients}.per_s`;
  ctx.out.figure(`${key}.per_s`, `${label}: acked/s`, 'ins/s', perS, clientPct, ratioTo);
  ctx.out.figure(`${key}.p99_ms`, `${label}: ack latency p99 (per request)`, 'ms', summarize(latency).p99Ms, clientPct);
  ctx.out.figure(`${key}.server_cpu_pct`, `${label}: server CPU`, '% core', weighted((r) => r.serverPct), clientPct);
  if (engine === 'PostgreSQL') ctx.out.figure(`${key}.pg_cpu_pct`, `${label}: PostgreSQL CPU`, '% core', weighted((r) => r.dbPct), clientPct);
  if (batch > 1) {
    const stalls = runs.map((r) => r.loopBlockedMs);
    const worst = stalls.includes(null) ? null : Math.max(...(stalls as number[]));
    ctx.out.figure(`${key}.loop_blocked_max_ms`, `${label}: event loop blocked, max`, 'ms', worst, clientPct);
  }
  return perS;
}

/** One PostgreSQL run on a fresh database, dropped afterwards. */
async function measurePostgres(ctx: ScenarioContext, adminUrl: string, clients: number): Promise<InsertRun> {
  const db = await createBenchDatabase(adminUrl);
  let backends: PgBackends | null = null;
  try {
    backends = await PgBackends.watch(adminUrl, db.name);
    ctx.log(`database ${db.name} created`);
    return await measureInserts(ctx, clients, { db, backends });
  } finally {
    await backends?.stop();
    await db.drop();
    ctx.log(`database ${db.name} dropped`);
  }
}

export const inserts: Scenario = {
  name: 'inserts',
  title: 'Inserts',
  timeoutMs: (p) => p.inserts.timeoutMs,
  async run(ctx) {
    const { adminUrl, available, detail } = ctx.postgres;
    const withPostgres = ctx.target === 'broker' && available && adminUrl !== null;
    const sqlite = new Map<number, number>();
    for (const clients of ctx.params.inserts.concurrencies) {
      if (!withPostgres) {
        sqlite.set(clients, report(ctx, clients, 'SQLite', 1, [await measureInserts(ctx, clients, null)]));
        continue;
      }
      // ABBA: a drift of the host's speed during these four runs weighs on both engines alike.
      const first = await measureInserts(ctx, clients, null);
      const pg = [await measurePostgres(ctx, adminUrl, clients), await measurePostgres(ctx, adminUrl, clients)];
      const single = report(ctx, clients, 'SQLite', 1, [first, await measureInserts(ctx, clients, null)]);
      sqlite.set(clients, single);
      const onPostgres = report(ctx, clients, 'PostgreSQL', 1, pg);
      ctx.out.figure(`inserts.pg.c${clients}.ratio`, `Inserts, ${clients} client(s): PostgreSQL ÷ SQLite acked/s (same run)`, '×', single > 0 ? onPostgres / single : null, null);
    }
    if (ctx.target !== 'broker') return;
    // Bulk: batches of BULK events per request, against single inserts of this same run.
    for (const clients of ctx.params.inserts.concurrencies) {
      const bulk = report(ctx, clients, 'SQLite', BULK, [await measureInserts(ctx, clients, null, BULK)]);
      const single = sqlite.get(clients) ?? 0;
      ctx.out.figure(`inserts.bulk${BULK}.c${clients}.ratio`, `Inserts in batches of ${BULK}, ${clients} client(s): events/s ÷ single inserts/s (same run)`, '×', single > 0 ? bulk / single : null, null);
    }
    await releaseBurst(ctx);
    if (!withPostgres) ctx.out.note(`inserts on PostgreSQL skipped: no PostgreSQL (${detail})`);
  },
};

/** Events per request of the bulk runs. */
const BULK = 100;
/** Node's event-loop delay monitor samples every 10 ms and reports whole intervals: idle reads ~10 ms. */
const LAG_MONITOR_MS = 10;

/** nodejs_eventloop_lag_max_seconds of a server, in ms (null when it does not answer). */
async function eventLoopLagMaxMs(port: number): Promise<number | null> {
  try {
    const r = await httpOnce(HOST, port, 'GET', '/metrics', null, '', 10_000);
    const m = /^nodejs_eventloop_lag_max_seconds(?:\{[^}]*\})?\s+([0-9.eE+-]+)/m.exec(r.body);
    return m?.[1] === undefined ? null : Number(m[1]) * 1000;
  } catch {
    return null;
  }
}

/**
 * 1,000 events inserted (in batches of 100) for one instant 2 s ahead, all released together:
 * how long the event loop is blocked by that release (target ≤ 20 ms) and how late it comes.
 */
async function releaseBurst(ctx: ScenarioContext): Promise<void> {
  const server = await ctx.launch({ heartbeatS: 15, loginRateLimit: 100_000 });
  const conn = new RawHttpConnection(HOST, server.port, 30_000);
  try {
    const auth = authHeader(await userToken(server.port, uniqueName('due')));
    await conn.open();
    const event = uniqueName('due');
    const due = Math.ceil(Date.now() / 1000) + 2;
    for (let b = 0; b < 10; b++) {
      const body = `[${Array.from({ length: 100 }, (_, i) => insertBody(event, `{"n":${b * 100 + i}}`, due)).join(',')}]`;
      const r = await conn.request('POST', '/insert', body, auth);
      if (r.status !== 200) throw new Error(`bulk insert → ${r.status} ${r.body.slice(0, 200)}`);
    }
    await eventLoopLagMaxMs(server.port); // starts Node's lag monitor; resets its histogram
    while (Date.now() < due * 1000 + 1500) await sleep(100);
    const lag = await eventLoopLagMaxMs(server.port);
    const r = await httpOnce(HOST, server.port, 'GET', '/metrics', null, '', 10_000);
    const released = Number(/^broker_releases_total\s+(\S+)/m.exec(r.body)?.[1] ?? Number.NaN);
    ctx.out.check('release of 1,000 events due at one instant', released >= 1000, `${released} released`);
    ctx.out.figure('inserts.release1000.loop_blocked_max_ms', 'Release of 1,000 events due at one instant: event loop blocked, max', 'ms', lag === null ? null : Math.max(0, lag - LAG_MONITOR_MS), null);
  } finally {
    conn.close();
    await server.stop();
  }
}
