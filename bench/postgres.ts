/**
 * PostgreSQL for the scenarios that need it (inserts on PostgreSQL, multinode): an admin URL
 * (loopback only) on which the suite creates a fresh database `broker_bench_<random>` per
 * measurement and drops it afterwards, also on Ctrl-C and past a hard deadline. It never drops a
 * database it did not create. The backends serving that database are watched so that their CPU
 * can be reported and is not mistaken for load from other processes.
 */
import crypto from 'node:crypto';
import postgres from 'postgres';
import { onAsyncCleanup, trackAuxPids } from './children.js';
import { processCpuNs } from './proc-stats.js';

export const DEFAULT_POSTGRES_URL = 'postgres://postgres@127.0.0.1:5432/postgres';

/** Where the admin URL came from: `--postgres`/`--postgres-url`, BENCH_POSTGRES_URL, the default, or switched off. */
export type PostgresSource = 'flag' | 'env' | 'default' | 'off';

export interface PostgresInfo {
  /** Admin URL (a role allowed to CREATE DATABASE), or null when switched off. */
  adminUrl: string | null;
  source: PostgresSource;
  /** True when the probe connected and the role may create databases. */
  available: boolean;
  /** Why it is not available, or the server version when it is. */
  detail: string;
}

export function isLoopbackUrl(url: string): boolean {
  try {
    const host = new URL(url).hostname.replace(/^\[|\]$/g, '');
    return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
  } catch {
    return false;
  }
}

/** The URL with its password masked, for logs and reports. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password !== '') u.password = '***';
    return u.toString();
  } catch {
    return '(invalid URL)';
  }
}

function adminClient(url: string): postgres.Sql {
  return postgres(url, {
    max: 1,
    connect_timeout: 3,
    idle_timeout: 2,
    onnotice: () => {},
    connection: { application_name: 'broker-bench' },
  });
}

function errorText(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    return typeof code === 'string' && !err.message.includes(code) ? `${code} ${err.message}` : err.message;
  }
  return String(err);
}

/** Connects once (3 s at most) and checks the role may create databases. */
export async function probePostgres(adminUrl: string | null, source: PostgresSource): Promise<PostgresInfo> {
  if (adminUrl === null) return { adminUrl, source, available: false, detail: 'switched off by --no-postgres or BENCH_POSTGRES_URL=off' };
  const sql = adminClient(adminUrl);
  try {
    const rows = await Promise.race([
      sql<{ version: string; can_create: boolean }[]>`
        select current_setting('server_version') as version,
               (select rolcreatedb or rolsuper from pg_roles where rolname = current_user) as can_create`,
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error('no answer within 5 s')), 5_000).unref()),
    ]);
    const row = rows[0];
    if (row === undefined) return { adminUrl, source, available: false, detail: 'probe returned no row' };
    if (row.can_create !== true) {
      return { adminUrl, source, available: false, detail: `role may not CREATE DATABASE at ${redactUrl(adminUrl)}` };
    }
    return { adminUrl, source, available: true, detail: `PostgreSQL ${row.version} at ${redactUrl(adminUrl)}` };
  } catch (err) {
    return { adminUrl, source, available: false, detail: `${errorText(err)} at ${redactUrl(adminUrl)}` };
  } finally {
    await sql.end({ timeout: 1 }).catch(() => undefined);
  }
}

/** A database the suite created; `drop()` removes it (idempotent). */
export interface BenchDatabase {
  name: string;
  /** DATABASE_URL for Broker: the admin URL with the database name replaced. */
  url: string;
  drop(): Promise<void>;
}

async function dropDatabase(adminUrl: string, name: string): Promise<void> {
  const sql = adminClient(adminUrl);
  try {
    try {
      // PostgreSQL 13+: ends the sessions still connected (a node killed past a deadline).
      await sql.unsafe(`drop database if exists "${name}" with (force)`);
    } catch (err) {
      if ((err as { code?: unknown }).code !== '42601') throw err;
      await sql`select pg_terminate_backend(pid) from pg_stat_activity where datname = ${name}`;
      await sql.unsafe(`drop database if exists "${name}"`);
    }
  } finally {
    await sql.end({ timeout: 1 }).catch(() => undefined);
  }
}

export async function createBenchDatabase(adminUrl: string): Promise<BenchDatabase> {
  const name = `broker_bench_${crypto.randomBytes(5).toString('hex')}`;
  const sql = adminClient(adminUrl);
  try {
    await sql.unsafe(`create database "${name}"`);
  } finally {
    await sql.end({ timeout: 1 }).catch(() => undefined);
  }
  const u = new URL(adminUrl);
  u.pathname = `/${name}`;
  let dropped: Promise<void> | null = null;
  let unregister: () => void = () => {};
  const drop = (): Promise<void> => {
    dropped ??= dropDatabase(adminUrl, name).finally(() => unregister());
    return dropped;
  };
  unregister = onAsyncCleanup(drop);
  return { name, url: u.toString(), drop };
}

/**
 * ANALYZE on a bench database, as autovacuum does on any server whose tables grow: statistics
 * change, cached plans are invalidated and each connection chooses its plans again on a table
 * that is no longer empty. A fresh database that was never analyzed would measure a state no
 * server that has run a while is in.
 */
export async function analyzeDatabase(url: string): Promise<void> {
  const sql = adminClient(url);
  try {
    await sql`analyze`;
  } finally {
    await sql.end({ timeout: 1 }).catch(() => undefined);
  }
}

/**
 * The server processes of the backends connected to one database (found in pg_stat_activity
 * every 250 ms): their CPU is reported as "PostgreSQL CPU" and counted as the suite's own load.
 * Requires PostgreSQL on this machine in the same pid namespace; otherwise cpuNs() stays 0 and
 * `visible()` is false.
 */
export class PgBackends {
  /** pid → last CPU ns read (kept after the backend exits, so the sum never goes back). */
  private readonly cpu = new Map<number, number>();
  private readonly live = new Set<number>();
  private readonly timer: NodeJS.Timeout;
  private readonly unregister: () => void;
  private polling = false;

  private constructor(
    private readonly sql: postgres.Sql,
    private readonly database: string,
  ) {
    this.timer = setInterval(() => void this.refresh(), 250);
    this.timer.unref();
    this.unregister = trackAuxPids(() => [...this.live]);
  }

  static async watch(adminUrl: string, database: string): Promise<PgBackends> {
    const w = new PgBackends(adminClient(adminUrl), database);
    await w.refresh();
    return w;
  }

  async refresh(): Promise<void> {
    if (this.polling) return;
    this.polling = true;
    try {
      const rows = await this.sql<{ pid: number }[]>`select pid from pg_stat_activity where datname = ${this.database}`;
      this.live.clear();
      for (const r of rows) this.live.add(Number(r.pid));
      this.cpuNs();
    } catch {
      // keep the last known set
    } finally {
      this.polling = false;
    }
  }

  /** True when at least one backend's /proc entry was readable. */
  visible(): boolean {
    return this.cpu.size > 0;
  }

  /** Cumulative CPU of every backend seen so far, in ns. */
  cpuNs(): number {
    let total = 0;
    for (const pid of this.live) {
      const v = processCpuNs(pid);
      if (!Number.isNaN(v)) this.cpu.set(pid, Math.max(v, this.cpu.get(pid) ?? 0));
    }
    for (const v of this.cpu.values()) total += v;
    return total;
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.unregister();
    await this.sql.end({ timeout: 1 }).catch(() => undefined);
  }
}
