/**
 * 7. Access rules: does a rules file slow the fan-out? The same load twice in one run, on two
 * fresh Brokers: without a rules file (every name public, the default), and with a rules file
 * that keeps `private.{user}.>` to its owner and `pub.>` public. N subscribers: half anonymous on
 * `pub.>`, half logged in (each their own user and token) on `pub.>` plus their own
 * `private.<id>.>`. A burst on `pub.feed` then goes to every stream; delivered msgs/s of the two
 * configurations are compared (target: with rules ≥ 0.9× without). Each Broker gets the burst
 * twice, and each configuration runs on `rounds` Brokers launched alternately; the best burst of
 * each configuration counts, for both alike. Exactly-once check on every stream. Broker only.
 *
 * With rules the hub decides per name and per kind of reader (anonymous, each role set) and
 * shares one chunk per filter and kind; the logged-in half has a filter each (its own private
 * name), so its chunks are built per stream in both runs alike.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { HOST, login, createUser, userToken } from '../api-client.js';
import { trackTempDir } from '../children.js';
import { clientCpuSource } from '../client-cpu.js';
import { sleep, uniqueName } from '../clock.js';
import { CpuMeter } from '../cpu-meter.js';
import { checkExactlyOnce } from '../delivery-check.js';
import { Publisher } from '../publisher.js';
import { RawHttpConnection } from '../raw-http.js';
import type { Scenario, ScenarioContext } from '../scenario-types.js';
import { SubscriberPool } from '../subscriber-pool.js';

const RULES = {
  rules: [
    { names: 'private.{user}.>', read: 'owner', write: 'owner' },
    { names: 'pub.>', read: 'public', write: 'user' },
  ],
};
const PASSWORD = 'bench-password-1';
/** Users created and logged in at once (bcrypt at cost 4: about 1 ms each). */
const SIGN_UP_CONCURRENCY = 16;

/** Users and their tokens, made `concurrency` at a time. */
async function logIn(port: number, count: number): Promise<{ id: string; jwt: string }[]> {
  const out: { id: string; jwt: string }[] = new Array(count);
  let next = 0;
  const worker = async (): Promise<void> => {
    const conn = new RawHttpConnection(HOST, port, 30_000);
    await conn.open();
    try {
      for (let i = next++; i < count; i = next++) {
        const name = `${uniqueName('reader')}-${i}`;
        const id = await createUser(port, name, PASSWORD);
        out[i] = { id, jwt: await login(conn, name, PASSWORD) };
      }
    } finally {
      conn.close();
    }
  };
  await Promise.all(Array.from({ length: SIGN_UP_CONCURRENCY }, worker));
  return out;
}

/** One Broker, with or without the rules file: the best burst's delivered msgs/s. */
async function runOne(ctx: ScenarioContext, withRules: boolean): Promise<number | null> {
  const p = ctx.params.rules;
  const label = withRules ? 'with rules' : 'no rules';
  const key = `rules.${p.subscribers}.${withRules ? 'rules' : 'open'}`;
  const extraEnv: Record<string, string> = { BCRYPT_COST: '4' };
  if (withRules) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'broker-bench-rules-'));
    trackTempDir(dir);
    extraEnv.RULES = path.join(dir, 'rules.json');
    fs.writeFileSync(extraEnv.RULES, JSON.stringify(RULES));
  }
  const server = await ctx.launch({ heartbeatS: 15, loginRateLimit: 1_000_000, extraEnv });
  let pool: SubscriberPool | null = null;
  let pub: Publisher | null = null;
  try {
    const anonymous = Math.floor(p.subscribers / 2);
    ctx.log(`${label}: ${p.subscribers - anonymous} users logging in`);
    const users = await logIn(server.port, p.subscribers - anonymous);
    const requests = [
      ...Array.from({ length: anonymous }, () => ({ path: '/events?event=pub.%3E', headers: '' })),
      ...users.map((u) => ({
        path: `/events?event=pub.%3E&event=private.${u.id}.%3E`,
        headers: `Authorization: Bearer ${u.jwt}\r\n`,
      })),
    ];
    const total = p.burstMessages * p.bursts;
    pool = await SubscriberPool.start(p.workers);
    ctx.log(`${label}: ${p.subscribers} subscribers connecting`);
    const conn = await pool.connect(p.subscribers, {
      host: HOST,
      port: server.port,
      path: '/events',
      requests,
      concurrency: 64,
      capacity: total,
      headTimeoutMs: 15_000,
      totalTimeoutMs: 60_000,
    });
    if (conn.ok < p.subscribers) {
      throw new Error(`only ${conn.ok}/${p.subscribers} subscribers connected: ${JSON.stringify(conn.outcomes)} ${conn.sample ?? ''}`);
    }
    await sleep(500);
    pub = await Publisher.open(server.port, await userToken(server.port, uniqueName('pub'), PASSWORD), 'pub.feed', p.burstConnections);
    let best: number | null = null;
    let acked = 0;
    for (let b = 0; b < p.bursts; b++) {
      const client = new CpuMeter(clientCpuSource(pool));
      const srv = new CpuMeter(() => server.cpuNs());
      const before = pool.progress();
      client.start();
      srv.start();
      const burst = await pub.burst(b * p.burstMessages, p.burstMessages, 0, p.timeoutMs / 4);
      acked += burst.acked;
      const done = await pool.waitFor((g) => g.received >= p.subscribers * acked, 60_000);
      const after = pool.progress();
      const rate = (after.received - before.received) / ((after.lastRecvAt - burst.firstSendAt) / 1000);
      const clientPct = client.read().pctOfCore;
      ctx.out.figure(`${key}.burst${b + 1}.delivered_per_s`, `Rules ${p.subscribers} subs, ${label}, burst ${b + 1}: delivered msgs/s`, 'msg/s', rate, clientPct);
      ctx.out.figure(`${key}.burst${b + 1}.server_cpu_pct`, `Rules ${p.subscribers} subs, ${label}, burst ${b + 1}: server CPU`, '% core', srv.read().pctOfCore, clientPct);
      ctx.out.check(`rules ${label}: burst ${b + 1} acknowledged`, burst.failed === 0 && burst.acked === p.burstMessages, `${burst.acked}/${p.burstMessages} ${JSON.stringify(burst.statuses)} ${burst.errorSample ?? ''}`);
      if (!done) ctx.out.note(`rules ${label}: burst ${b + 1} not fully delivered within 60 s`);
      if (Number.isFinite(rate) && (best === null || rate > best)) best = rate;
      await sleep(1000);
    }
    const report = await pool.report(total);
    checkExactlyOnce(ctx.out, `rules ${label}: every subscriber got every message exactly once`, report, p.subscribers, total);
    return best;
  } finally {
    pub?.close();
    await pool?.close();
    await server.stop();
  }
}

const best = (a: number | null, b: number | null): number | null => (a === null ? b : b === null ? a : Math.max(a, b));

export const rules: Scenario = {
  name: 'rules',
  title: 'Access rules',
  brokerOnly: true,
  timeoutMs: (p) => p.rules.timeoutMs,
  async run(ctx) {
    const p = ctx.params.rules;
    let open: number | null = null;
    let ruled: number | null = null;
    for (let round = 0; round < p.rounds; round++) {
      open = best(open, await runOne(ctx, false));
      ruled = best(ruled, await runOne(ctx, true));
    }
    const key = `rules.${p.subscribers}`;
    ctx.out.figure(`${key}.open.delivered_per_s`, `Rules ${p.subscribers} subs: no rules file, best burst msgs/s`, 'msg/s', open, null);
    ctx.out.figure(`${key}.rules.delivered_per_s`, `Rules ${p.subscribers} subs: with rules, best burst msgs/s`, 'msg/s', ruled, null);
    ctx.out.figure(
      `${key}.ratio`,
      `Rules ${p.subscribers} subs: with rules ÷ without (same run)`,
      '×',
      open !== null && ruled !== null && open > 0 ? ruled / open : null,
      null,
    );
  },
};
