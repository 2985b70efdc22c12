import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { insert, nowSeconds, request, signUp } from './helpers/api.js';
import { type Backend, backends } from './helpers/backends.js';
import { cleanupProcesses, makeTempDir, type RunResult } from './helpers/broker-process.js';
import { documentLines, exportTo, freshTarget, importFrom, mapLimited, PASSWORD, runCommand, sqliteUrl, writeLines } from './helpers/dump.js';
import { startBroker } from './helpers/start-broker.js';

after(cleanupProcesses);

describe('broker export and import', { concurrency: 2 }, () => {
  test('export from SQLite → import into PostgreSQL → export gives the same document, byte for byte; and back into SQLite', {
    skip: backends[1]?.skip,
  }, async () => {
    const source = await startBroker({}, { dir: makeTempDir() });
    const pg = await freshTarget(backends[1] as Backend);
    const sqlite = await freshTarget(backends[0] as Backend);
    try {
      const url = sqliteUrl(source.dir);
      // Every kind of record: an admin, a disabled user and one with roles (auth changes), events
      // released, pending and cancelled, ties of equal timestamps, sessions ended and tokens spent.
      const added = await runCommand(['users', 'add', 'root', '--role', 'admin', '--info', '{"é":"ü","n":[1.5,-0,1e21]}'], { DATABASE_URL: url }, {
        input: `${PASSWORD}\n`,
      });
      assert.equal(added.code, 0, added.stderr);
      const root = (await request(source.url, 'POST', '/login', { body: { username: 'root', password: PASSWORD } })).body as {
        jwt: string;
        refresh_token: string;
      };
      const bob = await signUp(source.url);
      const carol = await signUp(source.url);
      assert.equal((await request(source.url, 'PATCH', `/admin/users/${bob.id}`, { token: root.jwt, body: { roles: ['editor'] } })).status, 200);
      assert.equal((await request(source.url, 'PATCH', `/admin/users/${carol.id}`, { token: root.jwt, body: { disabled: true } })).status, 200);
      assert.equal((await request(source.url, 'POST', '/token/refresh', { body: { refresh_token: root.refresh_token } })).status, 200);
      assert.equal((await request(source.url, 'POST', '/logout', { token: root.jwt })).status, 200);
      const bobLogin = (await request(source.url, 'POST', '/login', { body: { username: bob.username, password: PASSWORD } })).body as { jwt: string };
      const past = Math.floor(nowSeconds()) - 100;
      await insert(source.url, bobLogin.jwt, 'tie', { k: 'first' }, past);
      await insert(source.url, bobLogin.jwt, 'tie', { k: 'second', s: 'line\nbreak "quoted" \u2028' }, past);
      for (let i = 0; i < 5; i++) await insert(source.url, bobLogin.jwt, `n.${i % 2}`, { i, f: i / 3 });
      await insert(source.url, bobLogin.jwt, 'later', { p: 1 }, nowSeconds() + 3600);
      const cancelled = await insert(source.url, bobLogin.jwt, 'later', { p: 2 }, nowSeconds() + 7200);
      assert.equal((await request(source.url, 'POST', `/events/${cancelled}/cancel`, { token: bobLogin.jwt })).status, 200);

      // Exported while Broker runs: a snapshot.
      const dir = makeTempDir();
      const first = await exportTo(url, join(dir, 'from-sqlite.ndjson'));
      for (const type of ['header', 'user', 'event', 'latest', 'session', 'refresh_token', 'auth_change', 'end']) {
        assert.match(first, new RegExp(`"type":"${type}"`), `the document has ${type} records`);
      }
      assert.doesNotMatch(first, /"pos"|"exported_at"|"username_key"/, 'nothing that depends on where or when');
      assert.match(first.split('\n')[0] as string, /^\{"type":"header","format":"broker-export","version":1,"release_seq":7\}$/);

      const intoPg = await importFrom(pg.url, join(dir, 'from-sqlite.ndjson'));
      assert.equal(intoPg.code, 0, intoPg.stderr);
      assert.match(intoPg.stdout, /imported 3 users, 9 events, 3 latest rows, \d+ sessions, \d+ refresh tokens, \d+ auth changes; release position 7/);
      const fromPg = await exportTo(pg.url, join(dir, 'from-postgres.ndjson'));
      assert.equal(fromPg, first, 'PostgreSQL exports the same bytes');

      const back = await importFrom(sqlite.url, join(dir, 'from-postgres.ndjson'));
      assert.equal(back.code, 0, back.stderr);
      assert.equal(await exportTo(sqlite.url, join(dir, 'back.ndjson')), first, 'and so does SQLite again');
    } finally {
      await source.close();
      await pg.cleanup();
    }
  });

  for (const backend of backends) {
    test(`import into ${backend.name} refuses a non-empty database, and changes nothing`, { skip: backend.skip }, async () => {
      const target = await freshTarget(backend);
      try {
        const b = await startBroker(target.brokerEnv, target.brokerOptions);
        try {
          await signUp(b.url);
          const file = writeLines(documentLines(3));
          if (backend.name === 'SQLite') {
            const busy = await importFrom(target.url, file);
            assert.equal(busy.code, 1, busy.stderr);
            assert.match(busy.stderr, /is in use: a Broker .* stop it first/);
          } else {
            const running = await importFrom(target.url, file);
            assert.equal(running.code, 1, running.stderr);
            assert.match(running.stderr, /Broker nodes are running on .*: stop them, import, then start them again/);
          }
        } finally {
          await b.close();
        }
        const refused = await importFrom(target.url, writeLines(documentLines(3)));
        assert.equal(refused.code, 1, refused.stderr);
        assert.match(refused.stderr, /is not empty \(it holds 1 users and 0 events\): import needs an empty database/);
        assert.doesNotMatch(refused.stderr, /\n\s+at /);
        assert.deepEqual(await target.counts(), { users: 1, events: 0 });
      } finally {
        await target.cleanup();
      }
    });

    test(`import into ${backend.name} refuses a malformed file with its line number and commits nothing`, { skip: backend.skip }, async () => {
      const target = await freshTarget(backend);
      try {
        // 1,200 events: more than two batches go in before the bad record near the end.
        const good = documentLines(1200);
        const cases: [string, (lines: string[]) => void, RegExp][] = [
          ['not JSON', (l) => l.splice(1, 1, '{"type":"user",'), /^broker: line 2: is not JSON/],
          [
            'a bad field',
            (l) => l.splice(40, 1, (l[40] as string).replace(/"timestamp":[\d.]+/, '"timestamp":"soon"')),
            /^broker: line 41: "timestamp" must be epoch seconds/,
          ],
          ['a repeated id (refused by the database)', (l) => l.splice(1150, 1, (l[1150] as string).replace(/"id":"e-\d+"/, '"id":"e-3"')), /^broker: line 1151: the database refused this event: .*(UNIQUE|unique)/],
          ['a latest row without its event', (l) => l.splice(1202, 1, (l[1202] as string).replace(/"seq":\d+/, '"seq":1')), /^broker: line 1203: the latest row of "imported.name" names seq 1/],
          ['sections out of order', (l) => l.splice(1, 0, l.splice(1202, 1)[0] as string), /^broker: line 3: a user record after the latest records: sections come in the order user, event, latest/],
          ['cut short', (l) => l.pop(), /^broker: the file ends at line 1203 without its end record: it was cut short/],
        ];
        for (const [what, edit, message] of cases) {
          const lines = [...good];
          edit(lines);
          const r = await importFrom(target.url, writeLines(lines));
          assert.equal(r.code, 2, `${what}: ${r.stderr}`);
          assert.match(r.stderr, message, what);
          assert.doesNotMatch(r.stderr, /\n\s+at /);
          assert.deepEqual(await target.counts(), { users: 0, events: 0 }, `${what}: nothing committed`);
        }
        if (backend.name === 'SQLite') {
          const dir = target.brokerOptions.dir as string;
          assert.deepEqual(readdirSync(dir), [], 'no database and no temporary file left');
        }
        const ok = await importFrom(target.url, writeLines(good));
        assert.equal(ok.code, 0, `the database is still fit for an import: ${ok.stderr}`);
        assert.deepEqual(await target.counts(), { users: 1, events: 1200 });
      } finally {
        await target.cleanup();
      }
    });
  }

  test('--help, bad usage and exit codes of export and import; import reads stdin', async () => {
    const good = writeLines(documentLines(2));
    const dir = makeTempDir();
    const cases: [readonly string[], Record<string, string>, string | undefined, number, RegExp][] = [
      [['export', '--help'], {}, undefined, 0, /Usage: broker export \[--out FILE\]/],
      [['import', '--help'], {}, undefined, 0, /Usage: broker import FILE\|-/],
      [['export', 'file.ndjson'], {}, undefined, 2, /unexpected argument "file\.ndjson" \(the file goes after --out\)/],
      [['export', '--out'], {}, undefined, 2, /--out/],
      [['export', '--out', '/no/such/dir/x.ndjson'], {}, undefined, 2, /the directory \/no\/such\/dir does not exist/],
      [['import'], {}, undefined, 2, /FILE \(or - for stdin\) is required/],
      [['import', 'a', 'b'], {}, undefined, 2, /unexpected argument "b"/],
      [['import', join(dir, 'missing.ndjson')], {}, undefined, 2, /there is no file .*missing\.ndjson/],
      [['import', '-'], { DATABASE_URL: sqliteUrl(makeTempDir()) }, '', 2, /the file is empty/],
      [['import', '-'], { DATABASE_URL: sqliteUrl(dir) }, readFileSync(good, 'utf8'), 0, /imported 1 users, 2 events/],
      [['export'], { DATABASE_URL: sqliteUrl(makeTempDir()) }, undefined, 1, /there is no database at /],
      [['export'], { DATABASE_URL: 'postgres://nobody@127.0.0.1:1/none' }, undefined, 1, /cannot use the PostgreSQL database 127\.0\.0\.1:1\/none/],
      [['import', good], { DATABASE_URL: 'sqlite::memory:' }, undefined, 2, /in-memory database/],
    ];
    const results = await mapLimited(cases, 3, ([args, env, input]) => runCommand(args, env, input === undefined ? {} : { input }));
    cases.forEach(([args, , , code, message], i) => {
      const r = results[i] as RunResult;
      assert.equal(r.code, code, `${args.join(' ')}: ${r.stderr}`);
      assert.match(`${r.stdout}${r.stderr}`, message, args.join(' '));
      assert.doesNotMatch(r.stderr, /\n\s+at /);
    });
    // The document goes to stdout, the summary to stderr.
    const out = await runCommand(['export'], { DATABASE_URL: sqliteUrl(dir) });
    assert.equal(out.code, 0, out.stderr);
    assert.equal(out.stdout, readFileSync(good, 'utf8'));
    assert.match(out.stderr, /^broker: exported 1 users, 2 events, 1 latest rows, 0 sessions, 0 refresh tokens, 0 auth changes; release position 2\n$/);
  });
});
