/**
 * 3. Inserts: acknowledged POST /insert per second with 1 and with 32 concurrent clients, each a
 * keep-alive connection with one request in flight (closed loop), after a warm-up.
 * SQLite always; PostgreSQL too (Broker only, one node) when a PostgreSQL admin URL answers:
 * each PostgreSQL measurement gets a fresh database `broker_bench_<random>`, dropped afterwards.
 */
import { authHeader, HOST, insertBody, userToken } from '../api-client.js';
import { clientCpuSource } from '../client-cpu.js';
import { clockMs, sleep, uniqueName } from '../clock.js';
import { CpuMeter } from '../cpu-meter.js';
import { RawHttpConnection } from '../raw-http.js';
import { type BenchDatabase, createBenchDatabase, PgBackends } from '../postgres.js';
import type { Scenario, ScenarioContext } from '../scenario-types.js';
import { Histogram, summarize } from '../stats.js';

const MAX_ERRORS = 1000;
/** Requests per run, at most (far above what 10 s can reach; keeps the loop bounded in count). */
const MAX_REQUESTS = 5_000_000;

/** `pg`: the fresh PostgreSQL database and its backends, or null for SQLite. */
async function runInserts(ctx: ScenarioContext, clients: number, pg: { db: BenchDatabase; backends: PgBackends } | null): Promise<void> {
  const p = ctx.params.inserts;
  const db = pg === null ? 'SQLite' : 'PostgreSQL';
  const key = pg === null ? `inserts.c${clients}` : `inserts.pg.c${clients}`;
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
        const body = insertBody(event, `{"n":${n++}}`, null);
        const t0 = clockMs();
        try {
          const r = await conn.request('POST', '/insert', body, auth);
          if (phase !== 'measure') continue;
          statuses[r.status] = (statuses[r.status] ?? 0) + 1;
          if (r.status >= 200 && r.status < 300) {
            acked += 1;
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
    await pg?.backends.refresh();
    const client = new CpuMeter(clientCpuSource(null));
    const srv = new CpuMeter(() => server.cpuNs());
    const dbCpu = pg === null ? null : new CpuMeter(() => pg.backends.cpuNs());
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
    const s = summarize(latency);
    const label = `Inserts, ${clients} client${clients === 1 ? '' : 's'} (${db})`;
    const ratioTo = pg === null ? undefined : `inserts.c${clients}.per_s`;
    ctx.out.figure(`${key}.per_s`, `${label}: acked/s`, 'ins/s', count / elapsedS, clientPct, ratioTo);
    ctx.out.figure(`${key}.p99_ms`, `${label}: ack latency p99`, 'ms', s.p99Ms, clientPct);
    ctx.out.figure(`${key}.server_cpu_pct`, `${label}: server CPU`, '% core', serverPct, clientPct);
    if (pg !== null) ctx.out.figure(`${key}.pg_cpu_pct`, `${label}: PostgreSQL CPU`, '% core', dbPct, clientPct);
    ctx.out.check(
      `inserts ${clients} client(s) ${db}: every insert acknowledged`,
      failed === 0 && errors === 0 && count > 0,
      `${count} acked, ${failed} refused, ${errors} errors ${JSON.stringify(statuses)} ${sample ?? ''}`,
    );
  } finally {
    for (const c of conns) c.close();
    await server.stop();
  }
}

export const inserts: Scenario = {
  name: 'inserts',
  title: 'Inserts',
  timeoutMs: (p) => p.inserts.timeoutMs,
  async run(ctx) {
    for (const clients of ctx.params.inserts.concurrencies) await runInserts(ctx, clients, null);
    if (ctx.target !== 'broker') return;
    const { adminUrl, available, detail } = ctx.postgres;
    if (!available || adminUrl === null) {
      ctx.out.note(`inserts on PostgreSQL skipped: no PostgreSQL (${detail})`);
      return;
    }
    for (const clients of ctx.params.inserts.concurrencies) {
      const db = await createBenchDatabase(adminUrl);
      let backends: PgBackends | null = null;
      try {
        backends = await PgBackends.watch(adminUrl, db.name);
        ctx.log(`database ${db.name} created`);
        await runInserts(ctx, clients, { db, backends });
      } finally {
        await backends?.stop();
        await db.drop();
        ctx.log(`database ${db.name} dropped`);
      }
    }
  },
};
