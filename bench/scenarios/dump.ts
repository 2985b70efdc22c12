/**
 * 9. Export and import: `broker import` and `broker export` of a database of `events` events,
 * each run as its own process (`node dist/main.js import|export …`, as an operator runs them),
 * reporting events/s (wall time from spawn to exit, Node's start-up included) and peak RSS
 * (VmHWM from /proc, read every 50 ms until the process exits). Target: ≤ 150 MB for both.
 * The database is built by importing a generated export file (bench/dump-file.ts), which is
 * also what the export must give back byte for byte (checked). SQLite always; PostgreSQL too,
 * on a fresh `broker_bench_*` database, when an admin URL answers. Broker only (no baseline).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { removeTempDir, trackChild, trackTempDir } from '../children.js';
import { clockMs, sleep } from '../clock.js';
import { writeDumpFile } from '../dump-file.js';
import { createBenchDatabase } from '../postgres.js';
import type { Scenario, ScenarioContext } from '../scenario-types.js';
import { BROKER_ENTRY, randomSecret, REPO_ROOT } from '../server-process.js';

/** How often the child's VmHWM is read, ms. */
const POLL_MS = 50;

interface Measured {
  seconds: number;
  peakRssMb: number;
}

/** VmHWM (peak RSS) of `pid` in kB, or NaN once it is gone. Read synchronously: a process about to exit must not be missed. */
function peakRssKb(pid: number): number {
  try {
    const m = /VmHWM:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${pid}/status`, 'latin1'));
    return m?.[1] === undefined ? Number.NaN : Number(m[1]);
  } catch {
    return Number.NaN;
  }
}

/** Runs `broker <args>` on `databaseUrl` to completion; its wall time and peak RSS. */
async function runBroker(args: string[], databaseUrl: string): Promise<Measured> {
  const env: NodeJS.ProcessEnv = { ...process.env, DATABASE_URL: databaseUrl, SECRET: randomSecret(), LOG_LEVEL: 'warn' };
  delete env.NODE_OPTIONS;
  const t0 = clockMs();
  const child: ChildProcess = trackChild(spawn(process.execPath, [BROKER_ENTRY, ...args], { cwd: REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] }));
  let output = '';
  child.stdout?.on('data', (d: Buffer) => {
    output = (output + d.toString('utf8')).slice(-2000);
  });
  child.stderr?.on('data', (d: Buffer) => {
    output = (output + d.toString('utf8')).slice(-2000);
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let peakKb = 0;
  let done = false;
  void exited.then(() => {
    done = true;
  });
  while (!done) {
    const kb = peakRssKb(child.pid ?? -1);
    if (Number.isFinite(kb)) peakKb = Math.max(peakKb, kb);
    await Promise.race([sleep(POLL_MS), exited]);
  }
  const code = await exited;
  const seconds = (clockMs() - t0) / 1000;
  if (code !== 0) throw new Error(`broker ${args.join(' ')} exited with ${code}: ${output.trim()}`);
  return { seconds, peakRssMb: peakKb / 1024 };
}

async function sha256(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** Import then export on one database; figures keyed `dump.<db>.…`. */
async function measure(ctx: ScenarioContext, db: 'sqlite' | 'pg', databaseUrl: string, file: string, expected: { sha: string; bytes: number }, dir: string): Promise<void> {
  const events = ctx.params.dump.events;
  const label = db === 'sqlite' ? 'SQLite' : 'PostgreSQL';
  ctx.log(`${label}: import of ${events.toLocaleString('en-US')} events`);
  const imported = await runBroker(['import', file], databaseUrl);
  ctx.out.figure(`dump.${db}.import.events_per_s`, `Import ${events.toLocaleString('en-US')} events (${label}): events/s`, 'ev/s', events / imported.seconds, null);
  ctx.out.figure(`dump.${db}.import.peak_rss_mb`, `Import (${label}): peak RSS`, 'MB', imported.peakRssMb, null);
  ctx.log(`${label}: imported in ${imported.seconds.toFixed(1)} s, peak RSS ${imported.peakRssMb.toFixed(0)} MB; export`);
  const out = path.join(dir, `export-${db}.ndjson`);
  const exported = await runBroker(['export', '--out', out], databaseUrl);
  ctx.out.figure(`dump.${db}.export.events_per_s`, `Export ${events.toLocaleString('en-US')} events (${label}): events/s`, 'ev/s', events / exported.seconds, null);
  ctx.out.figure(`dump.${db}.export.peak_rss_mb`, `Export (${label}): peak RSS`, 'MB', exported.peakRssMb, null);
  ctx.log(`${label}: exported in ${exported.seconds.toFixed(1)} s, peak RSS ${exported.peakRssMb.toFixed(0)} MB`);
  const bytes = statSync(out).size;
  const same = bytes === expected.bytes && (await sha256(out)) === expected.sha;
  ctx.out.check(`export (${label}) gives back the imported document byte for byte`, same, `${bytes} bytes, expected ${expected.bytes}`);
  rmSync(out, { force: true });
}

export const dump: Scenario = {
  name: 'dump',
  title: 'Export and import',
  brokerOnly: true,
  timeoutMs: (p) => p.dump.timeoutMs,
  async run(ctx) {
    const p = ctx.params.dump;
    const dir = mkdtempSync(path.join(tmpdir(), 'broker-bench-dump-'));
    trackTempDir(dir);
    try {
      const file = path.join(dir, 'generated.ndjson');
      ctx.log(`writing an export file of ${p.events.toLocaleString('en-US')} events`);
      const info = await writeDumpFile(file, { events: p.events, users: p.users, names: p.names });
      ctx.out.note(`dump: a generated export of ${p.events} events (${(info.bytes / 1e6).toFixed(0)} MB, ${p.users} users, ${p.names} names, 1 % pending)`);
      const expected = { sha: info.sha256, bytes: info.bytes };
      mkdirSync(path.join(dir, 'sqlite'));
      await measure(ctx, 'sqlite', `sqlite:${path.join(dir, 'sqlite', 'broker.db')}`, file, expected, dir);
      rmSync(path.join(dir, 'sqlite'), { recursive: true, force: true });
      const { adminUrl, available, detail } = ctx.postgres;
      if (!available || adminUrl === null) {
        ctx.out.note(`dump on PostgreSQL skipped: no PostgreSQL (${detail})`);
        return;
      }
      const db = await createBenchDatabase(adminUrl);
      try {
        ctx.log(`database ${db.name} created`);
        await measure(ctx, 'pg', db.url, file, expected, dir);
      } finally {
        await db.drop();
        ctx.log(`database ${db.name} dropped`);
      }
    } finally {
      removeTempDir(dir);
    }
  },
};
