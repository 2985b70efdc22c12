import assert from 'node:assert/strict';
import { copyFileSync, existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { openSqlite } from '../src/store/sqlite/open-sqlite.js';
import { insert, request, signUp, until } from './helpers/api.js';
import { cleanupProcesses, makeTempDir } from './helpers/broker-process.js';
import { mapLimited, runCommand } from './helpers/dump.js';
import { unique } from './helpers/expect-error.js';
import { startBroker, type TestBroker } from './helpers/start-broker.js';

after(cleanupProcesses);

/**
 * Brokers run in this process (cheaper than a child each on a loaded machine); the commands
 * under test run as child processes, so SQLite's locks see two processes, as in production.
 */
const brokerIn = (dir: string = makeTempDir()): Promise<TestBroker> => startBroker({}, { dir });

const sqliteUrl = (dir: string): string => `sqlite:${join(dir, 'broker.db')}`;

/** Every event id of `name`, through the paged history API. */
async function historyIds(base: string, token: string, name: string): Promise<string[]> {
  const ids: string[] = [];
  for (let after: string | undefined; ; ) {
    const query = after === undefined ? '?limit=1000' : `?limit=1000&after=${after}`;
    const res = await request(base, 'GET', `/events/${encodeURIComponent(name)}${query}`, { token });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    const page = res.body as { id: string }[];
    ids.push(...page.map((e) => e.id));
    if (page.length < 1000) return ids;
    after = page[page.length - 1]?.id;
  }
}

describe('broker backup and restore (SQLite)', { concurrency: 2 }, () => {
  test('a backup taken during a burst of inserts holds every insert acknowledged before it began; restored into a fresh directory, Broker serves them', async () => {
    const source = await brokerIn();
    const user = await signUp(source.url);
    const name = unique('burst');
    const acked: { id: string; at: number }[] = [];
    let stop = false;
    // Eight clients inserting as fast as they are acknowledged, before, during and after the backup.
    const clients = Array.from({ length: 8 }, async (_, c) => {
      for (let n = 0; !stop; n++) {
        const id = await insert(source.url, user.token, name, { c, n });
        acked.push({ id, at: Date.now() });
      }
    });
    const file = join(makeTempDir(), 'backup.db');
    let began = 0;
    let ackedDuring = 0;
    try {
      await until(async () => acked.length, (n) => n >= 200, '200 acknowledged inserts', 60_000);
      began = Date.now();
      const before = acked.length;
      const backup = await runCommand(['backup', file], { DATABASE_URL: sqliteUrl(source.dir) });
      assert.equal(backup.code, 0, backup.stderr);
      assert.match(backup.stdout, /backed up .* to .*backup\.db/);
      ackedDuring = acked.length - before;
    } finally {
      stop = true;
      await Promise.all(clients);
      await source.close();
    }
    assert.ok(ackedDuring > 0, 'inserts went on being acknowledged while the backup ran');
    assert.deepEqual(readdirSync(join(file, '..')), ['backup.db'], 'no temporary file is left beside the backup');

    const fresh = makeTempDir();
    const restore = await runCommand(['restore', file], { DATABASE_URL: sqliteUrl(fresh) });
    assert.equal(restore.code, 0, restore.stderr);
    assert.match(restore.stdout, /restored .*backup\.db into/);
    const restored = await brokerIn(fresh);
    try {
      const ids = new Set(await historyIds(restored.url, user.token, name));
      const ackedBefore = acked.filter((a) => a.at < began);
      const missing = ackedBefore.filter((a) => !ids.has(a.id));
      assert.equal(missing.length, 0, `${missing.length} of ${ackedBefore.length} inserts acknowledged before the backup are missing`);
      const all = new Set(acked.map((a) => a.id));
      assert.ok([...ids].every((id) => all.has(id)), 'the backup holds nothing that was not inserted');
      const me = await request(restored.url, 'GET', '/me', { token: user.token });
      assert.equal(me.status, 200, 'the user and their token (same SECRET) work on the restored database');
    } finally {
      await restored.close();
    }
  });

  test('restore is refused while a Broker runs on the database (which stays as it was), and puts the backup back once it stopped', async () => {
    const b = await brokerIn();
    let running = true;
    const user = await signUp(b.url);
    const kept = unique('kept');
    await insert(b.url, user.token, kept, { v: 1 });
    const file = join(makeTempDir(), 'backup.db');
    const env = { DATABASE_URL: sqliteUrl(b.dir) };
    try {
      assert.equal((await runCommand(['backup', file], env)).code, 0);
      const later = unique('later');
      await insert(b.url, user.token, later, { v: 2 });
      const refused = await runCommand(['restore', file], env);
      assert.equal(refused.code, 1, refused.stderr);
      assert.match(refused.stderr, /is in use: a Broker .* has it open; stop it first/);
      assert.doesNotMatch(refused.stderr, /\n\s+at /, 'no stack trace');
      assert.deepEqual((await historyIds(b.url, user.token, later)).length, 1, 'the running database is untouched');
      await insert(b.url, user.token, later, { v: 3 });
      assert.equal((await historyIds(b.url, user.token, later)).length, 2, 'and Broker goes on writing to it');
      await b.close();
      running = false;
      const restored = await runCommand(['restore', file], env);
      assert.equal(restored.code, 0, restored.stderr);
      assert.deepEqual(
        readdirSync(b.dir).filter((f) => f.startsWith('broker.db')),
        ['broker.db'],
        'no stale -wal/-shm nor temporary file beside the restored database',
      );
      const again = await brokerIn(b.dir);
      try {
        assert.equal((await historyIds(again.url, user.token, kept)).length, 1);
        assert.equal((await historyIds(again.url, user.token, later)).length, 0, 'what came after the backup is gone');
      } finally {
        await again.close();
      }
    } finally {
      if (running) await b.close();
    }
  });

  test('restore refuses a missing file, one that is not an SQLite or not a Broker database, and a newer schema; the database is not created', async () => {
    const dir = makeTempDir();
    const target = join(dir, 'target', 'broker.db');
    const env = { DATABASE_URL: `sqlite:${target}` };
    const text = join(dir, 'notes.txt');
    writeFileSync(text, 'these are not the pages you are looking for\n'.repeat(20));
    const foreign = join(dir, 'foreign.db');
    const f = openSqlite(foreign, { brokerSettings: false });
    f.exec('CREATE TABLE stuff (x)');
    f.close();
    // A real backup, then the same with a schema version from the future.
    const b = await brokerIn();
    const file = join(dir, 'good.db');
    assert.equal((await runCommand(['backup', file], { DATABASE_URL: sqliteUrl(b.dir) })).code, 0);
    await b.close();
    const future = join(dir, 'future.db');
    copyFileSync(file, future);
    const fdb = openSqlite(future, { brokerSettings: false });
    fdb.exec('PRAGMA user_version = 99');
    fdb.close();
    const cases: [string, number, RegExp][] = [
      [join(dir, 'missing.db'), 2, /there is no file .*missing\.db/],
      [text, 2, /notes\.txt is not an SQLite database/],
      [foreign, 2, /foreign\.db is an SQLite database but not a Broker database/],
      [future, 1, /future\.db has schema version 99, newer than this Broker knows \(\d+\): use a newer Broker/],
    ];
    const results = await mapLimited(cases, 3, ([path]) => runCommand(['restore', path], env));
    cases.forEach(([path, code, message], i) => {
      const r = results[i] as Awaited<ReturnType<typeof runCommand>>;
      assert.equal(r.code, code, `${path}: ${r.stderr}`);
      assert.match(r.stderr, message);
      assert.doesNotMatch(r.stderr, /\n\s+at /);
    });
    assert.equal(existsSync(target), false, 'no database was made');
    assert.deepEqual(existsSync(join(dir, 'target')) ? readdirSync(join(dir, 'target')) : [], [], 'nor any temporary file');
    const good = await runCommand(['restore', file], env);
    assert.equal(good.code, 0, good.stderr);
    assert.equal(existsSync(target), true);
  });

  test('--help, bad usage (exit 2), a PostgreSQL URL (exit 2, pointing to pg_dump/pg_restore) and a missing database (exit 1)', async () => {
    const pg = { DATABASE_URL: 'postgres://nobody@127.0.0.1:1/none' };
    const cases: [readonly string[], Record<string, string>, number, RegExp][] = [
      [['backup', '--help'], {}, 0, /Usage: broker backup FILE/],
      [['restore', '--help'], {}, 0, /Usage: broker restore FILE/],
      [['backup'], {}, 2, /FILE is required/],
      [['restore'], {}, 2, /FILE is required/],
      [['backup', 'a.db', 'b.db'], {}, 2, /unexpected argument "b\.db"/],
      [['restore', 'a.db', '--bogus'], {}, 2, /bogus/],
      [['backup', 'x.db'], pg, 2, /works on SQLite databases; with PostgreSQL use pg_dump .*pg_dump --format=custom/],
      [['restore', 'x.db'], pg, 2, /with PostgreSQL use pg_restore into an empty database, the nodes stopped: pg_restore/],
      [['backup', join(makeTempDir(), 'x.db')], {}, 1, /there is no database at /],
      [['backup', '/no/such/dir/x.db'], { DATABASE_URL: 'sqlite::memory:' }, 2, /in-memory database/],
    ];
    const results = await mapLimited(cases, 3, ([args, env]) => runCommand(args, env));
    cases.forEach(([args, , code, message], i) => {
      const r = results[i] as Awaited<ReturnType<typeof runCommand>>;
      assert.equal(r.code, code, `${args.join(' ')}: ${r.stderr}`);
      assert.match(code === 0 ? r.stdout : r.stderr, message, args.join(' '));
      assert.doesNotMatch(r.stderr, /\n\s+at /);
    });
    const help = await runCommand(['--help']);
    for (const command of ['backup', 'restore', 'export', 'import']) assert.match(help.stdout, new RegExp(`\\n  ${command} +\\S`));
  });
});
