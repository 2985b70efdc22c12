import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { request, until } from './helpers/api.js';
import { expectError, unique } from './helpers/expect-error.js';
import { cleanupProcesses, makeTempDir, runBroker, startBrokerProcess } from './helpers/broker-process.js';
import { backends } from './helpers/backends.js';
import { SseClient } from './helpers/sse-client.js';
import { startBroker } from './helpers/start-broker.js';

after(cleanupProcesses);

const PASSWORD = 'correct horse battery';
const writeRules = (dir: string, rules: unknown, name = 'rules.json'): string => {
  const path = join(dir, name);
  writeFileSync(path, typeof rules === 'string' ? rules : JSON.stringify(rules));
  return path;
};

describe('rules at start-up and on SIGHUP', { concurrency: 2 }, () => {
  test('an invalid rules file stops start-up with exit status 2, naming the file, the rule and the problem', async () => {
    const dir = makeTempDir();
    const cases: [unknown, RegExp][] = [
      [{ rules: [{ names: '>', read: 'everyone', write: 'user' }] }, /rule 1 \(">"\): "read" has the unknown permission "everyone"/],
      [{ rules: [{ names: '>', read: 'public', write: 'user' }, { names: 'a.>', read: 'public', write: 'user' }] }, /rule 2 \("a\.>"\) can never match/],
      ['{"rules": [', /is not valid JSON/],
    ];
    for (const [rules, message] of cases) {
      const path = writeRules(dir, rules, `${unique('r')}.json`);
      const r = await runBroker([], { RULES: path }, { dir });
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, message);
      assert.ok(r.stderr.includes(path), 'names the file');
      assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
    }
    const missing = await runBroker(['--rules', join(dir, 'nope.json')], {}, { dir });
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /no such file/);
  });

  test('SIGHUP reloads the rules; an invalid new file keeps the old rules and logs why', async () => {
    const dir = makeTempDir();
    const path = writeRules(dir, { rules: [{ names: '>', read: 'public', write: 'user' }] });
    const b = await startBrokerProcess({ dir, env: { RULES: path } });
    try {
      const before = await SseClient.connect(`${b.url}/events?event=secret.x`);
      assert.equal(before.status, 200, 'public at first');
      before.close();
      writeRules(dir, { rules: [{ names: 'secret.>', read: 'user', write: 'user' }, { names: '>', read: 'public', write: 'user' }] });
      b.kill('SIGHUP');
      await b.waitForLog((l) => /reloaded 2 rules/.test(String(l.msg)), 5000, 'the reload');
      const c = await SseClient.connect(`${b.url}/events?event=secret.x`);
      assert.equal(c.status, 403, 'the new rules apply');
      c.close();
      writeRules(dir, '{"rules": "nope"}');
      b.kill('SIGHUP');
      await b.waitForLog((l) => /keeping the rules in effect/.test(String(l.msg)), 5000, 'the refusal');
      const still = await SseClient.connect(`${b.url}/events?event=secret.x`);
      assert.equal(still.status, 403, 'the old (second) rules still apply');
      still.close();
      const ok = await SseClient.connect(`${b.url}/events?event=open.x`);
      assert.equal(ok.status, 200);
      ok.close();
    } finally {
      await b.stop();
    }
  });
});

describe('broker users: the command line', { concurrency: 2 }, () => {
  test('--help of users and of each subcommand exits 0; bad usage exits 2 with one line', async () => {
    const help = await runBroker(['users', '--help']);
    assert.equal(help.code, 0, help.stderr);
    for (const sub of ['add', 'list', 'disable', 'enable', 'roles', 'passwd']) assert.match(help.stdout, new RegExp(`\\b${sub}\\b`));
    const addHelp = await runBroker(['users', 'add', '--help']);
    assert.equal(addHelp.code, 0);
    assert.match(addHelp.stdout, /Usage: broker users add NAME/);
    const cases: [readonly string[], RegExp][] = [
      [['users'], /Usage: broker users/],
      [['users', 'frobnicate'], /unknown command "users frobnicate"/],
      [['users', 'add'], /NAME is required/],
      [['users', 'add', 'a', 'b'], /unexpected argument "b"/],
      [['users', 'add', 'x', '--bogus'], /bogus/],
      [['nope'], /unknown command "nope"/],
      [['users', 'list', '--limit', '0'], /--limit/],
    ];
    for (const [args, message] of cases) {
      const r = await runBroker([...args], {}, { input: '' });
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(`${r.stderr}${r.stdout}`, message, args.join(' '));
      assert.doesNotMatch(r.stderr, /\n\s+at /);
    }
  });

  test('users add reads the password from stdin (never argv); an empty stdin or a bad role is bad usage', async () => {
    const dir = makeTempDir();
    const noPassword = await runBroker(['users', 'add', 'ada'], {}, { dir, input: '' });
    assert.equal(noPassword.code, 2);
    assert.match(noPassword.stderr, /password on stdin/);
    const badRole = await runBroker(['users', 'add', 'ada', '--role', 'bad role'], {}, { dir, input: `${PASSWORD}\n` });
    assert.equal(badRole.code, 2, badRole.stderr);
    assert.match(badRole.stderr, /role/);
    const shortPassword = await runBroker(['users', 'add', 'ada'], {}, { dir, input: 'short\n' });
    assert.equal(shortPassword.code, 2);
    assert.match(shortPassword.stderr, /at least 8 characters/);
    const ok = await runBroker(['users', 'add', 'ada', '--role', 'admin', '--info', '{"team":"ops"}'], {}, { dir, input: `${PASSWORD}\n` });
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout.trim(), /^[0-9a-f-]{36}$/);
    const taken = await runBroker(['users', 'add', 'ADA'], {}, { dir, input: `${PASSWORD}\n` });
    assert.equal(taken.code, 1);
    assert.match(taken.stderr, /taken/);
    const list = await runBroker(['users', 'list', '--json'], {}, { dir });
    assert.equal(list.code, 0, list.stderr);
    const users = list.stdout.trim().split('\n').map((l) => JSON.parse(l) as { username: string; roles: string[] });
    assert.deepEqual(users.map((u) => [u.username, u.roles]), [['ada', ['admin']]]);
    const unknown = await runBroker(['users', 'disable', 'nobody'], {}, { dir });
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /No user is called "nobody"/);
    const last = await runBroker(['users', 'roles', 'ada'], {}, { dir });
    assert.equal(last.code, 2, 'the last admin keeps the role');
    assert.match(last.stderr, /no enabled admin/);
  });

  for (const backend of backends) {
    test(`changes made by the CLI reach a running node within 1 s (${backend.name})`, { skip: backend.skip }, async () => {
      const db = await backend.database();
      const b = await startBroker(db.env);
      try {
        const dbEnv = { DATABASE_URL: db.env.DATABASE_URL ?? `sqlite:${join(b.dir, 'broker.db')}` };
        const name = unique('cli');
        const added = await runBroker(['users', 'add', name], dbEnv, { input: `${PASSWORD}\n` });
        assert.equal(added.code, 0, added.stderr);
        const login = await request(b.url, 'POST', '/login', { body: { username: name, password: PASSWORD } });
        assert.equal(login.status, 200, 'a user added by the CLI logs in on the running node');
        const token = (login.body as { jwt: string }).jwt;
        const roles = await runBroker(['users', 'roles', name, 'editor', 'ops'], dbEnv);
        assert.equal(roles.code, 0, roles.stderr);
        assert.match(roles.stdout, /editor, ops/);
        const changedAt = Date.now();
        await until(() => request(b.url, 'GET', '/me', { token }), (r) => r.status === 401, 'the old token refused', 1000);
        const took = Date.now() - changedAt;
        assert.ok(took <= 1000, `took ${took} ms`);
        const fresh = await request(b.url, 'POST', '/login', { body: { username: name, password: PASSWORD } });
        const me = await request(b.url, 'GET', '/me', { token: (fresh.body as { jwt: string }).jwt });
        assert.deepEqual((me.body as { roles: string[] }).roles, ['editor', 'ops']);
        const disabled = await runBroker(['users', 'disable', name], dbEnv);
        assert.equal(disabled.code, 0, disabled.stderr);
        expectError(await request(b.url, 'POST', '/login', { body: { username: name, password: PASSWORD } }), 403, 'user_disabled');
        const passwd = await runBroker(['users', 'passwd', name], dbEnv, { input: 'another password\n' });
        assert.equal(passwd.code, 0, passwd.stderr);
        assert.equal((await runBroker(['users', 'enable', name], dbEnv)).code, 0);
        const again = await request(b.url, 'POST', '/login', { body: { username: name, password: 'another password' } });
        assert.equal(again.status, 200, 'enabled, with the new password');
      } finally {
        await b.close();
        await db.cleanup();
      }
    });
  }
});
