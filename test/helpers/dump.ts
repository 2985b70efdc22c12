/** Helpers of the export/import tests: target databases of each backend, the CLI, small documents. */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { openSqlite } from '../../src/store/sqlite/open-sqlite.js';
import postgres from 'postgres';
import { encodeEnd, encodeHeader, encodeRecord, zeroCounts } from '../../src/dump/dump-format.js';
import type { DumpRecord } from '../../src/store/dump.js';
import type { Backend } from './backends.js';
import { type EnvOverrides, makeTempDir, type RunResult, runBroker } from './broker-process.js';
import { unique } from './expect-error.js';

/**
 * How long one command may run before the harness gives up, ms: a bound for a loaded machine,
 * not a measurement (alone, each takes a second or two).
 */
const COMMAND_TIMEOUT_MS = 90_000;

/** `broker <args>` as a child process (runBroker), with that bound. */
export function runCommand(args: readonly string[], env: EnvOverrides = {}, options: { input?: string } = {}): Promise<RunResult> {
  return runBroker(args, env, { timeoutMs: COMMAND_TIMEOUT_MS, ...options });
}

/** `run` over `items`, at most `limit` at a time: each is a process, and a 2-core machine chokes on a dozen at once. */
export async function mapLimited<T, R>(items: readonly T[], limit: number, run: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    for (let i = next++; i < items.length; i = next++) results[i] = await run(items[i] as T);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

export const sqliteUrl = (dir: string): string => `sqlite:${join(dir, 'broker.db')}`;
export const PASSWORD = 'correct horse battery';

/** A fresh, empty target database of a backend, and how to look inside it. */
export interface Target {
  /** DATABASE_URL for the CLI and Broker. */
  readonly url: string;
  /** For an in-process Broker on it (startBroker). */
  readonly brokerEnv: Record<string, string>;
  readonly brokerOptions: { dir?: string };
  /** Users and events in it now (0 and 0 when there is no database, or no schema yet). */
  counts(): Promise<{ users: number; events: number }>;
  cleanup(): Promise<void>;
}

export async function freshTarget(backend: Backend): Promise<Target> {
  if (backend.name === 'SQLite') {
    const dir = makeTempDir();
    const path = join(dir, 'broker.db');
    return {
      url: `sqlite:${path}`,
      brokerEnv: {},
      brokerOptions: { dir },
      counts: async () => {
        if (!existsSync(path)) return { users: 0, events: 0 };
        const db = openSqlite(path, { fileMustExist: true, brokerSettings: false });
        try {
          const n = (table: string): number => (db.prepare(`SELECT count(*) AS n FROM ${table}`).get() as { n: number }).n;
          return { users: n('users'), events: n('events') };
        } finally {
          db.close();
        }
      },
      cleanup: async () => {},
    };
  }
  const db = await backend.database();
  const url = db.env.DATABASE_URL as string;
  return {
    url,
    brokerEnv: { DATABASE_URL: url },
    brokerOptions: {},
    counts: async () => {
      const sql = postgres(url, { max: 1, onnotice: () => {} });
      try {
        const [row] = await sql<{ users: string | null; events: string | null }[]>`
          SELECT CASE WHEN to_regclass('users') IS NULL THEN 0 ELSE (SELECT count(*) FROM users) END AS users,
                 CASE WHEN to_regclass('events') IS NULL THEN 0 ELSE (SELECT count(*) FROM events) END AS events`;
        return { users: Number(row?.users ?? 0), events: Number(row?.events ?? 0) };
      } finally {
        await sql.end({ timeout: 5 });
      }
    },
    cleanup: () => db.cleanup(),
  };
}

/** Runs `broker export --out file` on `url` (asserting success); the document. */
export async function exportTo(url: string, file: string): Promise<string> {
  const r = await runCommand(['export', '--out', file], { DATABASE_URL: url });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /exported \d+ users, \d+ events/);
  return readFileSync(file, 'utf8');
}

/** Runs `broker import file` into `url`. */
export function importFrom(url: string, file: string): Promise<RunResult> {
  return runCommand(['import', file], { DATABASE_URL: url });
}

/** A valid export of one user and `events` released events of one name, as lines. */
export function documentLines(events: number): string[] {
  const counts = zeroCounts();
  const lines: string[] = [];
  const put = (r: DumpRecord): void => {
    counts[r.type] += 1;
    lines.push(encodeRecord(r));
  };
  put({ type: 'user', id: 'u-1', username: 'imported', passwordHash: '$2b$04$x', info: '{}', roles: [], disabled: false, gen: 0, createdAt: 1_800_000_000 });
  for (let i = 0; i < events; i++) {
    put({
      type: 'event',
      id: `e-${i}`,
      userId: 'u-1',
      event: 'imported.name',
      timestamp: 1_800_000_000 + i,
      data: `{"i":${i}}`,
      insertedAt: 1_800_000_000 + i,
      seq: i + 1,
      releasedAt: 1_800_000_000 + i,
      cancelled: false,
      cancelledAt: null,
    });
  }
  put({ type: 'latest', event: 'imported.name', seq: events, timestamp: 1_800_000_000 + events - 1 });
  return [encodeHeader({ releaseSeq: events }), ...lines, encodeEnd(counts)];
}

/** Writes lines as a file in a fresh temp dir; its path. */
export const writeLines = (lines: readonly string[]): string => {
  const file = join(makeTempDir(), `${unique('doc')}.ndjson`);
  writeFileSync(file, `${lines.join('\n')}\n`);
  return file;
};
