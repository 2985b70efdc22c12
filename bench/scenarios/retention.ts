/**
 * 9. Retention: how fast pruning removes old versions, and what it costs the event loop. A Broker
 * without rules stores N versions of one name (a burst); it is restarted on the same database
 * with a rule keeping 10 versions, and the suite waits until `broker_pruned_total` says every
 * version past the limit is gone. Reported: versions pruned per second, and the event-loop lag
 * (p99 and max, Node's own monitor) over the pruning window — the target is that pruning never
 * blocks the loop for more than 10 ms — next to the same figures of the same Broker idle on the
 * same database for as long (the machine's own noise). On SQLite, and on PostgreSQL when one
 * answers. Broker only.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { userToken } from '../api-client.js';
import { trackTempDir } from '../children.js';
import { clockMs, sleep, uniqueName } from '../clock.js';
import { createBenchDatabase } from '../postgres.js';
import { Publisher } from '../publisher.js';
import { httpOnce } from '../raw-http.js';
import { HOST } from '../api-client.js';
import type { Scenario, ScenarioContext } from '../scenario-types.js';

const KEEP = 10;
/**
 * Node's event-loop delay monitor (prom-client's nodejs_eventloop_lag_*) samples with a 10 ms
 * timer and records the whole interval between two samples: an idle loop reads ~10 ms. The time
 * the loop was blocked is the reading minus this.
 */
const MONITOR_INTERVAL_MS = 10;

/** Event-loop lag p99 and max (ms) over `ms`, read every 250 ms, while `busy()` holds. */
async function watchLag(port: number, ms: number, busy: () => Promise<boolean>): Promise<{ p99: number; max: number; ms: number }> {
  await scrape(port); // starts Node's lag monitor at the first scrape (and resets its histogram)
  const t0 = clockMs();
  let max = 0;
  let p99 = 0;
  while (clockMs() - t0 < ms && (await busy())) {
    await sleep(250);
    const text = await scrape(port);
    max = Math.max(max, sample(text, 'nodejs_eventloop_lag_max_seconds') * 1000);
    p99 = Math.max(p99, sample(text, 'nodejs_eventloop_lag_p99_seconds') * 1000);
  }
  return { p99, max, ms: clockMs() - t0 };
}

async function scrape(port: number): Promise<string> {
  const r = await httpOnce(HOST, port, 'GET', '/metrics', null, '', 10_000);
  if (r.status !== 200) throw new Error(`GET /metrics → ${r.status}`);
  return r.body;
}

const sample = (text: string, name: string): number => {
  const m = new RegExp(`^${name}(?:\\{[^}]*\\})?\\s+([0-9.eE+-]+)`, 'm').exec(text);
  return m?.[1] === undefined ? Number.NaN : Number(m[1]);
};

async function runOn(ctx: ScenarioContext, backend: 'sqlite' | 'postgres', databaseUrl: string): Promise<void> {
  const p = ctx.params.retention;
  const key = `retention.${backend}`;
  const name = uniqueName('kept');
  // 1. Store the versions, without rules.
  const filler = await ctx.launch({ heartbeatS: 15, loginRateLimit: 1_000_000, databaseUrl });
  try {
    const pub = await Publisher.open(filler.port, await userToken(filler.port, uniqueName('w')), name, 8);
    try {
      ctx.log(`${backend}: storing ${p.versions} versions`);
      const burst = await pub.burst(0, p.versions, 0, p.timeoutMs / 2);
      ctx.out.check(`retention ${backend}: versions stored`, burst.acked === p.versions, `${burst.acked}/${p.versions}`);
    } finally {
      pub.close();
    }
  } finally {
    await filler.stop();
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'broker-bench-retention-'));
  trackTempDir(dir);
  const rules = path.join(dir, 'rules.json');
  const secret = 'retention-bench-secret-0123456789abcdef';
  // 2. The same database, no keep rule, idle for a while: the lag the machine shows anyway.
  fs.writeFileSync(rules, JSON.stringify({ rules: [{ names: '>', read: 'public', write: 'user' }] }));
  const idle = await ctx.launch({ heartbeatS: 15, loginRateLimit: 1_000_000, databaseUrl, secret, extraEnv: { RULES: rules } });
  let idleLag: { p99: number; max: number };
  try {
    idleLag = await watchLag(idle.port, p.idleS * 1000, async () => true);
  } finally {
    await idle.stop();
  }
  // 3. With a rule that keeps KEEP versions: until every version past it is gone.
  fs.writeFileSync(rules, JSON.stringify({ rules: [{ names: '>', read: 'public', write: 'user', keep: { versions: KEEP } }] }));
  const server = await ctx.launch({
    heartbeatS: 15,
    loginRateLimit: 1_000_000,
    databaseUrl,
    secret,
    extraEnv: { RULES: rules, PRUNE_INTERVAL: '1' },
  });
  try {
    const expected = p.versions - KEEP;
    let pruned = 0;
    const lag = await watchLag(server.port, p.timeoutMs / 2, async () => {
      pruned = sample(await scrape(server.port), 'broker_pruned_total');
      return pruned < expected;
    });
    const seconds = lag.ms / 1000;
    ctx.out.check(`retention ${backend}: every version past the limit pruned`, pruned === expected, `${pruned}/${expected} in ${seconds.toFixed(1)} s`);
    // The first round starts up to PRUNE_INTERVAL (1 s) after the start: counted in, as a user sees it.
    ctx.out.figure(`${key}.pruned_per_s`, `Retention (${backend}): versions pruned/s, ${p.versions} versions of one name, keep ${KEEP}`, 'versions/s', pruned / seconds, null);
    const blocked = (ms: number): number => Math.max(0, ms - MONITOR_INTERVAL_MS);
    ctx.out.figure(`${key}.loop_blocked_p99_ms`, `Retention (${backend}): event loop blocked, p99 while pruning (worst 250 ms window)`, 'ms', blocked(lag.p99), null);
    ctx.out.figure(`${key}.loop_blocked_max_ms`, `Retention (${backend}): event loop blocked, max while pruning`, 'ms', blocked(lag.max), null);
    ctx.out.figure(`${key}.idle_loop_blocked_max_ms`, `Retention (${backend}): event loop blocked, max, same Broker idle (no keep)`, 'ms', blocked(idleLag.max), null);
  } finally {
    await server.stop();
  }
}

export const retention: Scenario = {
  name: 'retention',
  title: 'Retention',
  brokerOnly: true,
  timeoutMs: (p) => p.retention.timeoutMs,
  async run(ctx) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'broker-bench-retention-db-'));
    trackTempDir(dir);
    await runOn(ctx, 'sqlite', `sqlite:${path.join(dir, 'broker.db')}`);
    const { adminUrl, available, detail } = ctx.postgres;
    if (!available || adminUrl === null) {
      ctx.out.note(`retention on PostgreSQL skipped: no PostgreSQL (${detail})`);
      return;
    }
    const db = await createBenchDatabase(adminUrl);
    try {
      await runOn(ctx, 'postgres', db.url);
    } finally {
      await db.drop();
    }
  },
};
